"""The task-agnostic Trainer and its callbacks, checkpoints, schedules and loggers."""
