"""The words every layer shares: split names, gender codes and the labels clips are trained on."""

SPLITS = ("train", "eval", "test")
GENDERS = ("M", "F")
# Labels as in the blog post: male 0, female 1; the optional third class holds clips of both genders.
LABELS = {"M": 0, "F": 1, "mixed": 2}
LABEL_NAMES = ["male", "female", "mixed"]
# How the synthesis built a clip (the Example's "mode"): a crop is one random piece of one real utterance
# at speed 1.0, what `predict` hears; the post's mixtures overlay utterances all at once or in sequence,
# each at a random playback speed.
CROP, SIMULTANEOUS, SEQUENTIAL = "crop", "simultaneous", "sequential"
