# ckeras 1.0 renames (issue #14): one getter spelling. Getters are nouns
# (ckeras_<object>_<property>), setters ckeras_<object>_set_<property>, global settings
# ckeras_<property>() / ckeras_set_<property>().
# Apply to a tree:  git ls-files -z | xargs -0 grep -lZ 'ckeras_' | xargs -0 sed -i -E -f scripts/rename-1.0.sed
# Idempotent: no new name matches an old pattern (\b ... \b: a longer name is never touched).
# Signature changes (outputs through out-parameters, typed flags, FILE *) are not edits sed can
# make safely: see CHANGELOG.md, 1.0.0, "Changed".
# Lines holding "(1.0 rename)" (CHANGELOG's migration table) keep the old names.
/\(1\.0 rename\)/b
s/\bckeras_get_num_threads\b/ckeras_num_threads/g
s/\bckeras_get_max_tensor_size\b/ckeras_max_tensor_size/g
s/\bckeras_get_max_model_params\b/ckeras_max_model_params/g
s/\bckeras_model_get_layer\b/ckeras_model_layer_by_name/g
s/\bckeras_model_layer_output\b/ckeras_model_layer_output_by_name/g
s/\bckeras_history_get\b/ckeras_history_values/g
s/\bckeras_logs_get\b/ckeras_logs_value_by_name/g
