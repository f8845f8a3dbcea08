"""Measures how long an apply's routerd.config.applied event takes to appear in `routerctl events
--follow`: from just before `routerctl apply` is started to the line arriving on follow's stdout."""
import os, subprocess, sys, time, statistics, re

routerctl, manifest, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
follow = subprocess.Popen([routerctl, "events", "--follow", "--topic", "routerd.config.applied"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
os.set_blocking(follow.stdout.fileno(), True)
time.sleep(0.7)
samples = []
text = open(manifest).read()
try:
    for i in range(10):
        path = os.path.join(tmp, "follow.yaml")
        with open(path, "w") as f:
            f.write(text.replace("role: lan}", 'role: lan, follow: "%d-%d"}' % (os.getpid(), i)))
        t0 = time.monotonic()
        subprocess.run([routerctl, "apply", "-f", path], check=True, stdout=subprocess.DEVNULL)
        while True:
            line = follow.stdout.readline()
            if not line:
                raise SystemExit("follow ended")
            if "routerd.config.applied" in line:
                break
        samples.append((time.monotonic() - t0) * 1000)
finally:
    follow.kill()
samples.sort()
p50 = statistics.median(samples)
print("apply -> follow line (ms): p50 %.1f  max %.1f  n=%d" % (p50, samples[-1], len(samples)))
print("PASS" if p50 < 50 else "FAIL")
