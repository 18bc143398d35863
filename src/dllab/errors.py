"""User-facing errors.

Every mistake a user can make (bad config, missing or corrupt data, bad checkpoint, bad
request) raises a subclass of `DllabError`. The CLI prints its message as one line and exits
with status 2, so each message says what was received, what was expected and how to fix it.
Internal invariants use `assert` instead.
"""


class DllabError(Exception):
    """A mistake in what the user gave us; the message is shown as-is, on one line.

    `lang` is the language the message was written in (the lab speaks Chinese with
    `--lang zh`), so the line's "error:" prefix can be in the same language.
    """

    def __init__(self, *args: object, lang: str = "en") -> None:
        super().__init__(*args)
        self.lang = lang


class ConfigError(DllabError):
    """A recipe or an override is invalid."""


class DataError(DllabError):
    """A dataset is missing, corrupt or fails its checksum."""


class CheckpointError(DllabError):
    """A checkpoint or run folder is missing, corrupt or belongs to something else."""


class InputError(DllabError):
    """An input given to `predict`, `serve` or `export` cannot be used."""


class TrainingDiverged(DllabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, with what a user needs to continue: the step and run folder."""

    def __init__(self, step: int, run_dir: object) -> None:
        super().__init__(f"interrupted at step {step}")
        self.step, self.run_dir = step, run_dir
