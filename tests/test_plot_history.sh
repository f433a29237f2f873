#!/bin/sh
# `ckeras plot-history LOG.csv OUT.svg` on CSVLogger files whose values are known: the SVG is
# parsed with Python's xml.etree (a real XML parser), every panel has both curves (training
# solid, validation dashed), and each polyline's points, mapped back through the panel's data
# ranges and plot box, give the CSV's epochs and values; rsvg-convert (librsvg, when installed)
# renders the file without error. Errors: a missing file, a cell that is not a number.
# Skipped (with a message) when python3 is not installed.
# Run from the source root after `make`: sh tests/test_plot_history.sh
set -u
root=$(pwd)
bin="$root/bin/ckeras"
[ -x "$bin" ] || { echo "test_plot_history: FAIL: $bin is missing (run make first)"; exit 1; }
py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" > /dev/null 2>&1; then py=$(command -v "$p"); break; fi
done
if [ -z "$py" ]; then
    echo "test_plot_history: skipped: python3 is not installed"
    exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
bad() { echo "test_plot_history: FAIL: $*"; fail=1; }

# a CSVLogger file as Keras writes it (epoch from 0; NA where a key is missing), and one with
# the ';' separator and a per-class list cell
cat > "$tmp/log.csv" <<'EOF'
epoch,accuracy,auc,loss,val_accuracy,val_auc,val_loss
0,0.53125,0.61,0.6782,0.4375,0.52,0.7140
1,0.75,0.7,0.6214,0.5625,0.6,0.6895
2,0.8125,0.79,0.5511,0.59375,0.66,0.6602
3,0.84375,0.83,0.5003,NA,0.69,0.6490
4,0.875,0.86,0.4625,0.65625,0.7,0.6412
EOF
printf 'epoch;loss;f1_score;val_loss;val_f1_score\n0;1.5;"[0.5, 0.25]";1.75;"[0.25, 0.25]"\n1;1.25;"[0.75, 0.25]";1.5;"[0.5, 0.25]"\n' > "$tmp/semi.csv"

cat > "$tmp/check.py" <<'EOF'
import csv, sys
import xml.etree.ElementTree as ET

svg_path, csv_path, sep = sys.argv[1], sys.argv[2], sys.argv[3]
NS = "{http://www.w3.org/2000/svg}"
root = ET.parse(svg_path).getroot()
assert root.tag == NS + "svg", root.tag
rows = list(csv.DictReader(open(csv_path), delimiter=sep))

def value(cell):
    cell = cell.strip()
    if cell in ("", "NA"):
        return None
    if cell.startswith("["):
        vals = [float(v) for v in cell.strip("[]").split(",")]
        return sum(vals) / len(vals)
    return float(cell)

keys = [k for k in rows[0] if k != "epoch"]
quantities = [k for k in keys if not k.startswith("val_")]
panels = root.findall(NS + "g")
titles = [p.get("data-key") for p in panels]
want = ["loss"] + [q for q in quantities if q != "loss"]
assert titles == want, (titles, want)
assert root.find(NS + "text").text, "no title"
checked = 0
for p in panels:
    q = p.get("data-key")
    xmin, xmax, ymin, ymax = (float(p.get(a)) for a in ("data-xmin", "data-xmax", "data-ymin", "data-ymax"))
    left, top, w, h = (float(p.get(a)) for a in ("data-left", "data-top", "data-width", "data-height"))
    lines = p.findall(NS + "polyline")
    kinds = sorted({l.get("class") for l in lines})
    assert kinds == ["training", "validation"], (q, kinds)
    for l in lines:
        key = l.get("data-key")
        dashed = l.get("stroke-dasharray") is not None
        assert dashed == (l.get("class") == "validation") and key == ("val_" + q if dashed else q), (q, key)
    # points back to (epoch, value)
    for key in (q, "val_" + q):
        pts = []
        for l in p.findall(NS + "polyline"):
            if l.get("data-key") == key:
                pts += [tuple(map(float, s.split(","))) for s in l.get("points").split()]
        expect = [(int(r["epoch"]) + 1, value(r[key])) for r in rows if value(r[key]) is not None]
        assert len(pts) == len(expect), (key, len(pts), len(expect))
        for (x, y), (e, v) in zip(pts, expect):
            ex = xmin + (x - left) / w * (xmax - xmin)
            ev = ymin + (top + h - y) / h * (ymax - ymin)
            assert abs(ex - e) < 1e-2, (key, ex, e)
            assert abs(ev - v) <= 1e-3 * (ymax - ymin), (key, ev, v)
            checked += 1
    # tick labels on both axes, a legend naming both curves
    assert len(p.findall(NS + "text[@class='ytick']")) >= 3, q
    assert len(p.findall(NS + "text[@class='xtick']")) >= 2, q
    assert sorted(t.text for t in p.findall(NS + "text[@class='legend']")) == sorted([q, "val_" + q]), q
print(checked)
EOF

for case in "log.csv ," "semi.csv ;"; do
    set -- $case
    if ! "$bin" plot-history "$tmp/$1" "$tmp/$1.svg" > "$tmp/out" 2>&1; then
        bad "plot-history $1: $(cat "$tmp/out")"
        continue
    fi
    if n=$("$py" "$tmp/check.py" "$tmp/$1.svg" "$tmp/$1" "$2" 2>&1); then
        echo "test_plot_history: ok: $1: $n points map back to the CSV values"
    else
        bad "$1: $n"
    fi
    if command -v rsvg-convert > /dev/null 2>&1; then
        if rsvg-convert "$tmp/$1.svg" -o "$tmp/$1.png" 2> "$tmp/err" && [ -s "$tmp/$1.png" ]; then
            echo "test_plot_history: ok: rsvg-convert renders $1.svg"
        else
            bad "rsvg-convert $1.svg: $(cat "$tmp/err")"
        fi
    else
        echo "test_plot_history: rsvg-convert not installed: rendering not checked"
    fi
done

# errors: a clear message and exit status 1, no file written
printf 'epoch,loss\n0,0.5\n1,abc\n' > "$tmp/bad.csv"
if "$bin" plot-history "$tmp/bad.csv" "$tmp/bad.svg" 2> "$tmp/err"; then
    bad "a non-number cell was accepted"
elif ! grep -q "line 3, column 'loss': 'abc' is not a number" "$tmp/err"; then
    bad "unclear message: $(cat "$tmp/err")"
elif [ -e "$tmp/bad.svg" ]; then
    bad "an SVG was written for a bad CSV"
else
    echo "test_plot_history: ok: bad cell refused"
fi
if "$bin" plot-history "$tmp/missing.csv" "$tmp/m.svg" 2> /dev/null; then
    bad "a missing CSV was accepted"
fi
[ $fail -eq 0 ] || { echo "test_plot_history: FAILED"; exit 1; }
echo "test_plot_history: passed"
