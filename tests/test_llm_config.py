"""LLMConfig: environment, overrides, mode per endpoint, and a key that never shows."""

from __future__ import annotations

import instructor
import pytest
from pydantic import ValidationError

from extractor.llm import DEFAULT_MODEL, LLMConfig, default_mode

SECRET = "sk-test-never-shown-4242"


def test_from_env_reads_the_three_variables() -> None:
    config = LLMConfig.from_env(
        {"OPENAI_BASE_URL": "http://127.0.0.1:8012/v1", "OPENAI_API_KEY": SECRET, "EXTRACTOR_MODEL": "m"}
    )
    assert config.base_url == "http://127.0.0.1:8012/v1"
    assert config.api_key is not None
    assert config.api_key.get_secret_value() == SECRET
    assert config.model == "m"


def test_from_env_defaults_and_empty_variables() -> None:
    config = LLMConfig.from_env({"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""})
    assert config.base_url is None
    assert config.api_key is None
    assert config.model == DEFAULT_MODEL == "qwen2.5-coder-1.5b-instruct"
    assert config.temperature == 0


def test_overrides_win_and_none_means_not_given() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:8012/v1", "EXTRACTOR_MODEL": "from-env"}
    config = LLMConfig.from_env(env, model="from-flag", base_url=None, timeout=5, mode="json")
    assert config.model == "from-flag"
    assert config.base_url == "http://127.0.0.1:8012/v1"
    assert config.timeout == 5
    assert config.mode == "json"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OPENAI_BASE_URL": ""}, False),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:8012/v1"}, True),
        ({"OPENAI_API_KEY": SECRET}, True),
        ({"EXTRACTOR_MODEL": "m"}, False),
    ],
)
def test_is_configured(env: dict[str, str], expected: bool) -> None:
    assert LLMConfig.is_configured(env) is expected


@pytest.mark.parametrize(
    ("base_url", "mode"),
    [
        (None, "tools"),
        ("https://api.openai.com/v1", "tools"),
        ("http://127.0.0.1:8012/v1", "tools"),
        ("http://localhost:11434/v1", "tools"),
        ("http://[::1]:8000/v1", "tools"),
        ("https://llm.example.org/v1", "md_json"),
    ],
)
def test_default_mode_per_endpoint(base_url: str | None, mode: str) -> None:
    assert default_mode(base_url) == mode


def test_explicit_mode_wins_and_maps_to_instructor() -> None:
    assert LLMConfig(base_url="http://127.0.0.1:8012/v1").instructor_mode is instructor.Mode.TOOLS
    assert LLMConfig(base_url="https://llm.example.org/v1").instructor_mode is instructor.Mode.MD_JSON
    assert LLMConfig(mode="json_schema").instructor_mode is instructor.Mode.JSON_SCHEMA
    assert LLMConfig(mode="json").instructor_mode is instructor.Mode.JSON


def test_key_never_shows() -> None:
    config = LLMConfig.from_env({"OPENAI_API_KEY": SECRET})
    for shown in (repr(config), str(config), config.model_dump_json(), f"{config}"):
        assert SECRET not in shown


@pytest.mark.parametrize(
    "bad", [{"timeout": 0}, {"max_retries": -1}, {"token_budget": 0}, {"mode": "xml"}, {"colour": 1}]
)
def test_invalid_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LLMConfig(**bad)


def test_config_is_immutable() -> None:
    config = LLMConfig()
    with pytest.raises(ValidationError):
        config.model = "other"  # type: ignore[misc]
