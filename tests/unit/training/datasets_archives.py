"""Tiny synthetic tar.gz archives in the published layouts of the Stormfront and ToxiGen
sources (`write_all` in datasets_files.py writes them with the others). Not a test module."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

__all__ = ["write_stormfront", "write_tar_gz", "write_toxigen"]


def write_tar_gz(root: Path, rel: str, members: dict[str, bytes]) -> None:
    """A tar.gz archive holding `members` (name -> bytes) under their folders, as published."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for directory in sorted({name.rsplit("/", 1)[0] for name in members if "/" in name}):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def write_stormfront(root: Path) -> None:
    """Vicomtech's layout: one sentence a file, labels in annotations_metadata.csv (one
    sentence with a stray Latin-1 byte, one label of each kind that is dropped)."""
    sentences = {
        "100_1": ("noHate", b"Our local history society meets on Tuesdays.\n"),
        "100_2": ("hate", b"They are vermin and should be driven out of our country.\n"),
        "100_3": ("relation", b"And they did it again.\n"),
        "100_4": ("idk/skip", b"Well, who knows.\n"),
        "100_5": ("noHate", b"The caf\xe9 in town reopened last week.\n"),
        "100_6": ("noHate", b"   \n"),
    }
    header = "file_id,user_id,subforum_id,num_contexts,label\n"
    rows = "".join(f"{name},572066,1346,0,{label}\n" for name, (label, _) in sentences.items())
    members = {f"all_files/{file_id}.txt": text for file_id, (_, text) in sentences.items()}
    members["annotations_metadata.csv"] = (header + rows).encode()
    write_tar_gz(root, "malicious/stormfront_hate_speech.tar.gz", members)


def write_toxigen(root: Path) -> None:
    """Microsoft's layout: few-shot prompts joined by a literal backslash-n, each statement
    led by "- ", the prompt ending in an empty "-" for the generator; statements repeat."""
    hate = (
        "- those people are all criminals\\n- they should go back where they came from\\n-\n"
        "- they should go back where they came from\\n- those people are all criminals\\n-\n"
    )
    neutral = "- many people in the group work as teachers\\n-\n"
    write_tar_gz(
        root,
        "malicious/toxigen_prompts.tar.gz",
        {
            "prompts/hate_immigrant_1k.txt": hate.encode(),
            "prompts/neutral_immigrant_1k.txt": neutral.encode(),
        },
    )
