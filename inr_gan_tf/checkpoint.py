"""A training run on disk, written and verified here: `config.json` and `checkpoints/ckpt-N`.

    run_dir/config.json          the run's configuration; "generator" = G.get_config() (STYLE 5)
    run_dir/checkpoints/ckpt-N   tf.train.Checkpoint of OBJECTS (the trainer's whole state)

The trainer writes both (`write_config`, `training_checkpoint` + `CheckpointStore`); samplers,
metrics and exports read G_ema back with restore.py's `restore_generator` (no flags: the model
is rebuilt from config.json). Checkpoints fall back and never delete the last good state (STYLE 16):

* Checkpoints are listed from the files on disk (`ckpt-N.index`, `ckpt-N.data-*`), never from
  the `checkpoint` state file: a damaged state file must not hide or revive anything. The state
  file is still written (atomically) for `tf.train.latest_checkpoint` users.
* A checkpoint is trusted only after `verify` reads every tensor of it (below, why).
* Restore takes the newest intact checkpoint and says which newer ones it skipped and why.
* Save writes `ckpt-N`, verifies it, and only then updates the state file and deletes checkpoints
  beyond `max_to_keep`; those are deleted only if intact (verified) -- a damaged one is moved to
  `checkpoints.corrupt-<time>/` instead, so nothing is lost that someone may want to inspect.
* A failed save removes its own partial files and leaves the previous checkpoint as it was.
"""
import errno
import json
import os
import re
import shutil
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

import tensorflow as tf
from absl import logging

from inr_gan_tf.paths import write_atomic

PREFIX = "ckpt"
STATE_FILE = "checkpoint"  # tf.train.latest_checkpoint's name for it
_SUFFIX = re.compile(r"\.(index|data-(\d+)-of-(\d+))")
_FILE = re.compile(rf"{PREFIX}-(\d+){_SUFFIX.pattern}")
# Left by saves that were killed: TF's sharded save writes <prefix>_temp/ then merges it, and
# its file writes (and ours: paths.write_atomic's .NAME.<hex>.tmp) go through *.tempstate* / *.tmp*
# names before the final rename.
_STALE = re.compile(rf"^({PREFIX}-\d+.*(_temp|\.tempstate|\.tmp)|{STATE_FILE}\.tmp|\.{STATE_FILE}\.[0-9a-f]+\.tmp).*$")


class CheckpointError(OSError):
    """No usable checkpoint, or a save that failed; the message is one line naming the files."""


class Found(NamedTuple):
    prefix: Optional[str]                # newest intact checkpoint, or None
    step: Optional[int]                  # its number (= the training step it holds)
    skipped: List[Tuple[str, str]]       # (prefix, why) of newer ones that failed verification
    older: List[str]                     # older prefixes on disk, not verified


def list_checkpoints(ckpt_dir: str) -> Dict[int, str]:
    """{step: prefix} of every checkpoint with at least one file on disk, newest first."""
    try:
        names = os.listdir(ckpt_dir)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    steps = sorted({int(m.group(1)) for m in map(_FILE.fullmatch, names) if m}, reverse=True)
    return {s: os.path.join(ckpt_dir, f"{PREFIX}-{s}") for s in steps}


def checkpoint_files(prefix: str) -> List[str]:
    """The files of one checkpoint prefix that exist (index and data shards)."""
    d, base = os.path.split(prefix)
    try:
        names = os.listdir(d or ".")
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(os.path.join(d, n) for n in names
                  if n.startswith(base + ".") and _SUFFIX.fullmatch(n[len(base):]))


def verify(prefix: str) -> Optional[str]:
    """None if `prefix` is an intact checkpoint, else a short reason naming the bad file.

    Every tensor is read rather than only comparing the data files' sizes with the offsets the
    index implies: TensorFlow's Python reader does not expose those offsets, and a full read also
    checks each tensor's CRC32C, so a truncated, missing or bit-flipped .data file all fail here
    instead of in the middle of a restore. The cost is one read of the checkpoint, which the
    restore that follows reads again from the page cache.
    """
    name = os.path.basename(prefix)
    if not os.path.isfile(prefix + ".index"):
        return f"no {name}.index"
    shards = [n for n in map(os.path.basename, checkpoint_files(prefix)) if not n.endswith(".index")]
    if not shards:
        return f"no {name}.data-* file"
    total = int(_SUFFIX.fullmatch(shards[0][len(name):]).group(3))
    want = [f"{name}.data-{i:05d}-of-{total:05d}" for i in range(total)]
    missing = [w for w in want if w not in shards]
    if missing:
        return f"no {missing[0]}"
    try:
        reader = tf.train.load_checkpoint(prefix)
        keys = sorted(reader.get_variable_to_dtype_map())
    except Exception as e:  # noqa: BLE001 -- NotFound/DataLoss/OpError/UnicodeDecodeError alike
        return f"{name}.index unreadable ({first_line(e)})"
    for key in keys:
        try:
            reader.get_tensor(key)
        except Exception as e:  # noqa: BLE001 -- a short read is an IndexError, a bad CRC an OpError
            where = want[0] if total == 1 else f"{name}.data-*"
            return f"{where} truncated or damaged (reading {key}: {first_line(e)})"
    return None


def find_latest(ckpt_dir: str) -> Found:
    """The newest intact checkpoint in `ckpt_dir`, verifying newest first; reads, never writes."""
    skipped, candidates = [], list(list_checkpoints(ckpt_dir).items())
    for i, (step, prefix) in enumerate(candidates):
        why = verify(prefix)
        if why is None:
            return Found(prefix, step, skipped, [p for _, p in candidates[i + 1:]])
        skipped.append((prefix, why))
    return Found(None, None, skipped, [])


def nothing_restorable(ckpt_dir: str, found: Found) -> str:
    """One line for a folder whose checkpoint files are all damaged: which, why, the way out."""
    which = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in found.skipped)
    return (f"{ckpt_dir} holds checkpoint files but none is restorable ({which}); repair them, or "
            f"pass --restart to move them to {os.path.basename(ckpt_dir)}.aside-<time>/ and start at step 0")


def remove_stale_temps(ckpt_dir: str) -> List[str]:
    """Deletes what killed saves left behind (never a complete checkpoint); returns the names."""
    try:
        names = [n for n in os.listdir(ckpt_dir) if _STALE.match(n)]
    except FileNotFoundError:
        return []
    for n in names:
        path = os.path.join(ckpt_dir, n)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    return names


def fresh_dir(base: str) -> str:
    """`base-<time>` (with -2, -3... if taken), created; never merges into an existing folder,
    where a file of the same name would be overwritten."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1, 1000):
        path = f"{base}-{stamp}" + (f"-{i}" if i > 1 else "")
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue
    raise CheckpointError(f"no free folder name like {base}-{stamp}")


def move_aside(prefixes: List[str], dest: str) -> None:
    """Moves every file of each prefix into `dest` (same names)."""
    for prefix in prefixes:
        for f in checkpoint_files(prefix):
            os.replace(f, os.path.join(dest, os.path.basename(f)))


def set_aside(run_dir: str) -> Optional[str]:
    """--restart: checkpoints/ and config.json of a run go to checkpoints.aside-<time>/ (where
    a checkpoint prefix still finds its config.json); returns that folder, or None if empty."""
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    config = os.path.join(run_dir, "config.json")
    has_ckpt = os.path.isdir(ckpt_dir) and os.listdir(ckpt_dir)
    if not has_ckpt and not os.path.exists(config):
        return None
    dest = fresh_dir(ckpt_dir + ".aside")
    if has_ckpt:
        for n in os.listdir(ckpt_dir):
            os.replace(os.path.join(ckpt_dir, n), os.path.join(dest, n))
    if os.path.exists(config):
        os.replace(config, os.path.join(dest, "config.json"))
    return dest


def write_state_file(ckpt_dir: str, prefixes: List[str]) -> None:
    """The `checkpoint` file tf.train.latest_checkpoint reads, oldest..newest, written atomically."""
    names = [os.path.basename(p) for p in prefixes]
    text = "".join(f'all_model_checkpoint_paths: "{n}"\n' for n in names)
    path = os.path.join(ckpt_dir, STATE_FILE)
    write_atomic(path, f'model_checkpoint_path: "{names[-1]}"\n' + text)


def _size(prefix: str) -> int:
    return sum(os.path.getsize(f) for f in checkpoint_files(prefix))


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


class CheckpointStore:
    """Restore and save one tf.train.Checkpoint with verification and its own retention.

    save_dir: where this process writes (a non-chief MultiWorkerMirroredStrategy worker writes
    a scratch folder of its own); restore_dir: where the run's checkpoints are read from (the
    chief's). Only a store that owns the run's folder (save_dir == restore_dir) moves anything
    in it aside or rewrites its state file.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, save_dir: str, restore_dir: str,
                 max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.checkpoint, self.save_dir, self.restore_dir = checkpoint, save_dir, restore_dir
        self.max_to_keep = max_to_keep
        self.owner = os.path.abspath(save_dir) == os.path.abspath(restore_dir)
        self.verified = set()  # prefixes known intact: saved and verified, or restored, here
        self.current: Optional[Tuple[int, str]] = None  # (step, prefix) the state in memory equals

    # -- restore ----------------------------------------------------------------------------
    def restore(self, found: Optional[Found] = None) -> Optional[int]:
        """Restores the newest intact checkpoint (or `found`'s); returns its step, None if the run
        has no checkpoint files. Raises CheckpointError if it has some but none is intact."""
        stale = remove_stale_temps(self.save_dir)
        if stale:
            logging.info("removed what interrupted saves left in %s: %s", self.save_dir, ", ".join(stale))
        found = found or find_latest(self.restore_dir)
        for prefix, why in found.skipped:
            logging.warning("skipped checkpoint %s: %s", prefix, why)
        if found.prefix is None:
            if found.skipped:
                raise CheckpointError(nothing_restorable(self.restore_dir, found))
            return None
        if found.skipped and self.owner:
            # Out of the way of the saves to come (they reuse the step numbers), not deleted.
            dest = fresh_dir(self.save_dir + ".corrupt")
            move_aside([p for p, _ in found.skipped], dest)
            logging.warning("moved the skipped checkpoints to %s", dest)
        self.checkpoint.restore(found.prefix).assert_existing_objects_matched()
        logging.info("restored %s (step %d)", found.prefix, found.step)
        self.verified.add(found.prefix)
        self.current = (found.step, found.prefix)
        if self.owner:
            write_state_file(self.save_dir, found.older[::-1] + [found.prefix])
        return found.step

    # -- save -------------------------------------------------------------------------------
    def save(self, step: int) -> str:
        """Writes ckpt-<step>, verifies it, then records it and applies retention."""
        if self.current and self.current[0] == step:
            return self.current[1]  # on disk already: e.g. the end of a run right after a periodic save
        prefix = os.path.join(self.save_dir, f"{PREFIX}-{step}")
        os.makedirs(self.save_dir, exist_ok=True)
        if checkpoint_files(prefix):  # files of an older run under this number
            if self.owner:
                move_aside([prefix], fresh_dir(self.save_dir + ".aside"))
            else:  # a worker's scratch copy: nothing there is restored from
                self._remove_partial(prefix)
        previous = self.current[1] if self.current else None
        # As CheckpointManager.save does: with a save_counter in the files, restore() of the
        # checkpoint by any tf.train.Checkpoint matches all of its objects.
        self.checkpoint.save_counter.assign_add(1)
        try:
            self.checkpoint.write(prefix)
        except (OSError, tf.errors.OpError) as e:
            self._remove_partial(prefix)
            raise CheckpointError(self._failed_save(prefix, previous, e)) from None
        why = verify(prefix)
        if why is not None:
            dest = fresh_dir(self.save_dir + ".corrupt")
            move_aside([prefix], dest)
            raise CheckpointError(f"checkpoint {prefix} failed verification right after saving ({why}); "
                                  f"moved to {dest}; {previous or 'no earlier checkpoint'} untouched")
        self.verified.add(prefix)
        self.current = (step, prefix)
        self._retain()
        return prefix

    def _remove_partial(self, prefix: str) -> None:
        for f in checkpoint_files(prefix):
            os.remove(f)
        remove_stale_temps(self.save_dir)

    def _failed_save(self, prefix: str, previous: Optional[str], e: BaseException) -> str:
        need = f"about {_mb(_size(previous))} (the size of {os.path.basename(previous)})" if previous \
            else "as much as the model and its optimizer states"
        free = _mb(shutil.disk_usage(self.save_dir).free)
        full = "disk full: " if getattr(e, "errno", None) == errno.ENOSPC else ""
        return (f"could not save {prefix} ({full}{first_line(e)}); removed its partial files; a checkpoint "
                f"needs {need}, {free} free in {self.save_dir}; "
                f"{f'{previous} is intact' if previous else 'there is no earlier checkpoint'}")

    def _retain(self) -> None:
        """The newest `max_to_keep` intact checkpoints stay. Older ones are deleted only once
        verified (a damaged one is moved to checkpoints.corrupt-<time>/ instead); ones of unknown
        state (older than the restored one) are verified here, once."""
        keep, delete, damaged = [], [], []
        for prefix in list_checkpoints(self.save_dir).values():  # newest first
            if prefix not in self.verified:
                if verify(prefix) is not None:
                    damaged.append(prefix)
                    continue
                self.verified.add(prefix)
            (keep if len(keep) < self.max_to_keep else delete).append(prefix)
        # Recorded before anything is deleted: a crash in between still finds the new checkpoint.
        write_state_file(self.save_dir, keep[::-1])
        for prefix in delete:
            for f in checkpoint_files(prefix):
                os.remove(f)
            self.verified.discard(prefix)
        if damaged:
            dest = fresh_dir(self.save_dir + ".corrupt")
            move_aside(damaged, dest)
            logging.warning("moved damaged checkpoints %s to %s (never deleted)",
                            [os.path.basename(p) for p in damaged], dest)


# -- the format: what a run holds, and reading it back -----------------------------------------
# The objects of a training checkpoint, by name. Readers of a generator take GENERATOR only.
OBJECTS = ("G", "G_ema", "D", "opt_hyper", "opt_inr", "opt_d", "step", "nimg", "rng")
LOSS_SCALES = ("g_scale", "d_scale")  # besides, with mixed_float16
GENERATOR = "G_ema"


def training_checkpoint(**objects) -> tf.train.Checkpoint:
    """The trainer's checkpoint: every name of OBJECTS (and LOSS_SCALES or neither), no other."""
    names = set(objects)
    if not set(OBJECTS) <= names or names - set(OBJECTS) not in (set(), set(LOSS_SCALES)):
        raise ValueError(f"a training checkpoint holds {OBJECTS} (+ {LOSS_SCALES}), got {sorted(names)}")
    return tf.train.Checkpoint(**objects)


# Keys (paths into the config) a resumed run may change: they set how long to train and how
# the run ends, not what is trained, so `--total_kimg` can extend (or shorten) a finished run
# from its last checkpoint and `--lr_rampdown_kimg` can add, move or drop the final ramp of
# the learning rates without starting again (the rates are a function of the images seen,
# total_kimg and the ramp, set before every step: the ones a checkpoint holds are overwritten).
RESUMABLE_KEYS = (("total_kimg",), ("optim", "lr_rampdown_kimg"))


def _split_resumable(config: dict) -> Tuple[dict, Dict[str, object]]:
    """(config without RESUMABLE_KEYS, {"--lr_rampdown_kimg": value, ...} of those set)."""
    rest, found = json.loads(json.dumps(config)), {}
    for path in RESUMABLE_KEYS:
        parent = rest
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent:
            found["--" + path[-1]] = parent.pop(path[-1])  # config keys are their flags' names
    return rest, found


def check_config(run_dir: str, config: dict, *, log: bool = True) -> None:
    """Raises ValueError if `run_dir` holds checkpoints of another configuration (apart from
    RESUMABLE_KEYS, whose changes are logged with `log`). Writes nothing; a config.json with no
    checkpoint beside it does not count."""
    if not list_checkpoints(os.path.join(run_dir, "checkpoints")):
        return
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return  # checkpoints without a config: the run's config is written now
    try:
        with open(path) as f:
            old = json.load(f)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path} is unreadable ({str(e).splitlines()[0]}); repair it or pass --restart") from None
    if not isinstance(old, dict):
        raise ValueError(f"{path} is not a configuration (a JSON {type(old).__name__}); repair it or pass --restart")
    (old, old_resumable), (new, new_resumable) = _split_resumable(old), _split_resumable(config)
    fixed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if fixed:
        raise ValueError(f"{run_dir} holds a run with another configuration (differs in {fixed}); "
                         "use a new --run_dir, the original flags, or --restart")
    for key in sorted(set(old_resumable) | set(new_resumable)) if log else ():
        if old_resumable.get(key) != new_resumable.get(key):
            logging.info("resuming with %s = %s (the run had %s)", key, new_resumable.get(key, "unset"),
                         old_resumable.get(key, "unset"))


def write_config(run_dir: str, config: dict) -> None:
    """config.json beside the checkpoints, after check_config; RESUMABLE_KEYS are recorded anew,
    and a config.json with no checkpoint beside it (a run that failed before its first save)
    is replaced."""
    check_config(run_dir, config, log=False)  # logged when the run's flags were checked
    path = os.path.join(run_dir, "config.json")
    text = json.dumps(config, indent=1, sort_keys=True).encode()
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == text:
                return  # every worker of a cluster gets here; only a change is written
    write_atomic(path, text)  # never a half-written config
