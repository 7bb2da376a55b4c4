"""xalign_utils: the shared library of the xalign book (data, models, measures, methods, build)."""
import warnings

# tqdm.auto warns (with a local file path) when ipywidgets is absent; the book's outputs stay clean.
warnings.filterwarnings("ignore", message="IProgress not found")
