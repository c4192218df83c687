"""Session-state keys and query values that more than one page reads: defined once, so a rename cannot split them.

A key read by one page only stays in that page.
"""

RUN_ID = "run_id"  # Train's current run; Runs sets it to open a run on Train
LOAD_FORM = "load_form"  # Runs -> Train: a run's settings to load into the form
PREDICT_RUN = "predict_run"  # the model Predict opens (a run id, or ENSEMBLE_PREFIX + study)
TRAIN_UPLOAD = "train_upload"  # Train's uploaded file, offered to Search as its data
ENSEMBLE_PREFIX = "search:"  # Predict's model key for a search's ensemble: "search:<study>" (Search hands it over)
