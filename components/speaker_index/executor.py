"""Speaker index executor: reads the corpus, splits its speakers, writes speaker_index.json."""
import json
import logging
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.common import artifact_output, fs
from components.common.artifacts import INDEX_FILE
from components.speaker_index import corpus
from components.common.settings import section_from_json
from components.common.vocabulary import SPLITS
from components.speaker_index.config import CorpusConfig

log = logging.getLogger(__name__)

DATA_ROOT_KEY = "data_root"
CORPUS_CONFIG_KEY = "corpus_config"
SPEAKER_INDEX_KEY = "speaker_index"


def read_index(index_artifact_uri: str) -> dict:
    return json.loads(fs.read_text(fs.join(index_artifact_uri, INDEX_FILE)))


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        output = artifact_utils.get_single_instance(output_dict[SPEAKER_INDEX_KEY])
        config = section_from_json(CorpusConfig, exec_properties[CORPUS_CONFIG_KEY])
        with artifact_output.cleaned_on_failure(output.uri):
            index = corpus.build_index(exec_properties[DATA_ROOT_KEY], config)
            fs.makedirs(output.uri)
            fs.write_text(fs.join(output.uri, INDEX_FILE), json.dumps(index, indent=1, sort_keys=True))
        for name, facts in index["corpora"].items():
            log.info("speaker index: %s (%s): %d speakers, %d files, %.1f min; %s; minors left out: %d",
                         name, facts["format"], facts["speakers"], facts["files"], facts["seconds"] / 60,
                         facts["split"], facts["minors_left_out"])
        for split in SPLITS:
            log.info("speaker index: %s has %d female and %d male speakers", split,
                         len(index["splits"][split]["F"]), len(index["splits"][split]["M"]))
        output.set_int_custom_property("num_speakers", len(index["speakers"]))
        output.set_int_custom_property("num_files", sum(len(s["files"]) for s in index["speakers"].values()))
        output.set_int_custom_property("num_skipped_files", len(index["skipped_files"]))
        output.set_int_custom_property("num_corpora", len(index["corpora"]))
