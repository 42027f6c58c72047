from tfx.types import standard_artifacts

from components.audio_example_gen.component import AudioExampleGen
from components.audio_synthesis.component import AudioSynthesis
from components.speaker_index.component import SpeakerIndexGen


def test_produces_standard_examples():
    index = SpeakerIndexGen(data_root="/data", corpus_config="{}")
    clips = AudioSynthesis(speaker_index=index.outputs["speaker_index"], synthesis_config="{}", skip_corrupt=False,
                           train_clips=1, eval_clips=1, test_clips=1)
    example_gen = AudioExampleGen(clips=clips.outputs["clips"], examples_config="{}")
    assert example_gen.outputs["examples"].type is standard_artifacts.Examples
