from components.common.artifacts import SpeakerIndex
from components.speaker_index.component import SpeakerIndexGen


def test_spec_and_output_type():
    component = SpeakerIndexGen(data_root="/data", corpus_config="{}")
    assert component.outputs["speaker_index"].type is SpeakerIndex
    assert SpeakerIndex.TYPE_NAME == "audioclf.SpeakerIndex"
    assert component.exec_properties == {"data_root": "/data", "corpus_config": "{}"}
