"""Reading the taxonomy file (`config/topics.yaml`) from disk into validated, compiled form."""

from __future__ import annotations

from pathlib import Path

from schemas.errors import ConfigError
from schemas.taxonomy import Taxonomy, parse_taxonomy_text
from transforms.topics import CompiledTaxonomy, compile_taxonomy

#: The taxonomy shipped with the project.
DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parents[1] / "config" / "topics.yaml"


def load_taxonomy_file(path: Path = DEFAULT_TAXONOMY_PATH) -> Taxonomy:
    """Read and validate the taxonomy at `path`; `ConfigError` names file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the taxonomy: {error}", kind="config") from error
    return parse_taxonomy_text(text, source=str(path))


def load_compiled_taxonomy(path: Path = DEFAULT_TAXONOMY_PATH) -> CompiledTaxonomy:
    """Read, validate and compile the taxonomy at `path`, ready for `tag_topics`."""
    return compile_taxonomy(load_taxonomy_file(path))
