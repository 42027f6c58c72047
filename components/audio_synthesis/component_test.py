from components.audio_synthesis.component import AudioSynthesis
from components.common.artifacts import AudioClips
from components.speaker_index.component import SpeakerIndexGen


def test_spec_inputs_outputs_and_clip_count_parameters():
    index = SpeakerIndexGen(data_root="/data", corpus_config="{}")
    clips = AudioSynthesis(speaker_index=index.outputs["speaker_index"], synthesis_config="{}", skip_corrupt=True,
                           train_clips=6, eval_clips=2, test_clips=2)
    assert clips.outputs["clips"].type is AudioClips
    assert clips.inputs["speaker_index"] is index.outputs["speaker_index"]
    assert {k: clips.exec_properties[k] for k in ("train_clips", "eval_clips", "test_clips", "skip_corrupt")} == {
        "train_clips": 6, "eval_clips": 2, "test_clips": 2, "skip_corrupt": 1}
