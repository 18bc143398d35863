"""Reference solutions, shown by `dllab lab solution NAME` once the exercise has passed."""
