"""Running the lectures: execute every notebook on real data, cache what was
executed, and hold the recorded results to the slides' bands.

- :mod:`.runner` -- execute notebooks with papermill and summarise.
- :mod:`.cache` -- a cache of executed notebooks, keyed by what they depend on.
- :mod:`.bands` -- the slides' reference results and the accepted bands.
- :mod:`.recorded` -- read back the metrics a notebook recorded.
- :mod:`.metadata` -- the kernel metadata committed notebooks carry.

It may import the host side's shared modules (:mod:`dlcourse.host`) and the
kernel side; no other room.
"""
