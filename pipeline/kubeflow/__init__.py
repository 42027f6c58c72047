"""Everything that talks to Kubeflow Pipelines: compiler (the KFP v2 spec of the pipeline), connection
(the kfp client and its errors), parameters (the package's run-time parameters), cron (schedules) and
runs (submit, schedule). The TFJob launcher the Trainer step uses lives beside the AudioTrainer
component (components/audio_trainer/tfjob.py); kubeflow/ at the top holds manifests and the guide."""
