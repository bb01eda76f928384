import os

# OpenMP threads that sleep when idle instead of spinning. torch's threads otherwise spin after
# each operation while OpenVINO's threads (the vision encoder), another model thread or another
# process on the machine want the same cores: measured here, an image at 140 tokens took 0.52x
# and a 10 s sound 0.51x the time with sleeping threads (docs/performance.md). OpenMP reads
# this once, when torch is loaded, which is after this package is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
