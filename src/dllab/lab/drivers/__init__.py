"""Child-side halves of the graders whose learner code makes objects (an nn.Module, a Dataset).

Each `NAME.py` here is sent as text to the child and run there next to the learner's module:
it builds, calls and inspects the learner's objects and returns plain data (arrays, numbers,
names), which `exercises/NAME.py` judges in the parent against references computed there.
A driver imports only NumPy and torch, never dllab: the child refuses that package.
"""
