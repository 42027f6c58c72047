"""The project's artifact types under the names Kubeflow knows them by.

On Kubeflow Pipelines v2, TFX's container entry point rebuilds a custom artifact type by importing
its schema title as `<module>.<Class>`, and KFP requires that title to look like `<namespace>.<Title>`
with a one-word namespace. So the types are named `audioclf.SpeakerIndex`, `audioclf.AudioClips` and
`audioclf.KServeDeployment`, and this top-level module is where that import finds them.
"""
from components.common.artifacts import AudioClips, KServeDeployment, SpeakerIndex

__all__ = ["AudioClips", "KServeDeployment", "SpeakerIndex"]
