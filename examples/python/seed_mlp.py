"""The seed MLP (examples/seed_mlp.c) from Python, through the ctypes binding ckeras.py.

The Keras program it mirrors:

    model = Sequential()
    model.add(Dense(100, activation='relu', input_shape=(n_cols,)))
    model.add(Dense(50, activation='relu'))
    model.add(Dense(50, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
    model.fit(X, y, validation_split=0.2, epochs=100, callbacks=[EarlyStopping(patience=5)])

Run: python3 seed_mlp.py [path/to/breast_cancer.csv]   (default: ../data/breast_cancer.csv
relative to this file). Exit status 0 when the test accuracy reaches 0.9.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckeras as ck  # noqa: E402


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    csv = argv[1] if len(argv) > 1 else os.path.join(here, "..", "data", "breast_cancer.csv")
    ck.set_random_seed(1234)

    # data: read, hold out a test set, standardise with the training part's statistics only
    x, y = ck.read_csv(csv)
    x_train, x_test, y_train, y_test = ck.train_test_split(x, y, test_size=0.2, random_state=42)
    scaler = ck.StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    n_cols = x_train.shape[1]
    print("breast cancer: %d training and %d test samples, %d features"
          % (x_train.shape[0], x_test.shape[0], n_cols))

    model = ck.Sequential()
    model.add(ck.Dense(100, activation="relu", input_shape=(n_cols,)))
    model.add(ck.Dense(50, activation="relu"))
    model.add(ck.Dense(50, activation="relu"))
    model.add(ck.Dense(1, activation="sigmoid"))
    model.compile(optimizer=ck.Adam(learning_rate=1e-3), loss="binary_crossentropy",
                  metrics=["accuracy", "precision"])
    model.summary()

    early_stopping = ck.EarlyStopping(monitor="val_loss", patience=5)
    history = model.fit(x_train, y_train, validation_split=0.2, epochs=100, verbose=2,
                        callbacks=[early_stopping])
    if early_stopping.stopped_epoch > 0:
        print("early stopping: stopped after epoch %d (val_loss did not improve for 5 epochs)"
              % (early_stopping.stopped_epoch + 1))
    else:
        print("early stopping: did not trigger; ran %d epochs" % len(history.epoch))

    results = model.evaluate(x_test, y_test, batch_size=32, return_dict=True)
    print("test: " + ", ".join("%s %.4f" % kv for kv in results.items()))
    return 0 if results["accuracy"] >= 0.9 else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
