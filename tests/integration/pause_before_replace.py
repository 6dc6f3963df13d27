"""Run a script, pausing it just before the Nth ``os.replace`` onto a file whose name matches a pattern.

    python pause_before_replace.py 'best_*' 2 MARKER tools/train.py CONFIG ...

At that moment the new file is complete under its temporary name and not yet in place; the helper writes MARKER
(the destination path) and sleeps, so a test can kill the process with a real SIGKILL at exactly that point. Nothing
of openmix is replaced: only the moment is chosen.
"""
import fnmatch
import os
import os.path as osp
import runpy
import sys
import time

pattern, nth, marker, script, *args = sys.argv[1:]
_replace, _seen = os.replace, [0]


def _paused_replace(src, dst, *a, **kw):
    if fnmatch.fnmatch(osp.basename(os.fspath(dst)), pattern):
        _seen[0] += 1
        if _seen[0] == int(nth):
            with open(marker, 'w') as f:
                f.write(os.fspath(dst))
            time.sleep(600)
    return _replace(src, dst, *a, **kw)


os.replace = _paused_replace
sys.argv = [script, *args]
runpy.run_path(script, run_name='__main__')
