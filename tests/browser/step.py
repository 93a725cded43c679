"""Steps through `descent graph --html` in headless Chromium by key presses, over the
Chrome DevTools Protocol (a WebSocket client written here on the standard library, so the
test needs nothing installed but Chromium): forward through every node, then backward,
reading each node's gradient from the page; the gradients must equal the listing's
(`descent graph --listing`, the engine's Wengert list). Then a slider is moved by key
presses, and the loss and gradients the page shows must equal the listing's at that
parameter value. Writes a screenshot of the final state.

python3 step.py PORT PAGE.html DESCENT DATA.csv MODEL INIT SCREENSHOT.png
"""
import base64, json, os, re, socket, struct, subprocess, sys, time, urllib.request

port, page, descent, data, model, init, shot = sys.argv[1:8]


class Cdp:
    """One page's DevTools connection: `call` sends a command and waits for its answer."""

    def __init__(self, url):
        host_port, path = url[len("ws://"):].split("/", 1)
        host, p = host_port.split(":")
        self.s = socket.create_connection((host, int(p)), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(
            (f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"no WebSocket upgrade: {head[:200]!r}")
        self.next = 0

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            out += chunk
        return out

    def _send(self, text):
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _recv(self):
        message = b""
        while True:
            b1, b2 = self._exact(2)
            n = b2 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            if b1 & 0x0F == 8:
                raise ConnectionError("DevTools closed the connection")
            if b1 & 0x0F in (9, 10):
                continue
            message += payload
            if b1 & 0x80:
                return json.loads(message)

    def call(self, method, **params):
        self.next += 1
        self._send(json.dumps({"id": self.next, "method": method, "params": params}))
        while True:
            m = self._recv()
            if m.get("id") == self.next:
                if "error" in m:
                    raise SystemExit(f"{method}: {m['error']}")
                return m.get("result", {})

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r["result"].get("value")

    def key(self, key, code, vk):
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=code,
                      windowsVirtualKeyCode=vk, nativeVirtualKeyCode=vk)


def numbers(text):
    """The numbers of a value as the page or the listing prints it, shape left out."""
    text = text.strip()
    m = re.match(r"^\[[0-9, ]*\] (\[.*)$", text)  # the page: "[8, 1] [v, v, v, …]"
    if m:
        text = m.group(1)
    return [float(x) for x in re.findall(r"-?(?:inf|NaN|[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?)", text)]


def listing(init):
    out = subprocess.run([descent, "graph", data, "--target", "y", "--model", model, "--init", init,
                          "--listing"], capture_output=True, text=True, check=True).stdout
    grads = {}
    for line in out.splitlines():
        i = int(line.split()[0][1:])
        grads[i] = numbers(line.split("grad ", 1)[1]) if "grad " in line else None
    return grads


def same(page_numbers, listed):
    # The page shows the first three values; the listing's are printed to the same digits.
    k = len(page_numbers)
    return k > 0 and page_numbers == listed[:k]


for _ in range(100):
    try:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("Chromium's DevTools did not answer")
cdp = Cdp(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
cdp.call("Emulation.setDeviceMetricsOverride", width=1500, height=1000, deviceScaleFactor=1, mobile=False)
cdp.call("Page.enable")
cdp.call("Page.navigate", url="file://" + os.path.abspath(page))
for _ in range(200):
    if cdp.eval("document.readyState") == "complete" and cdp.eval("document.body && document.body.dataset.step") == "-1":
        break
    time.sleep(0.05)
else:
    raise SystemExit("the page did not load")

n = cdp.eval("document.querySelectorAll('g.node').length")
grads_text = "[...document.querySelectorAll('g.node')].map(g => g.querySelector('.grad').textContent)"
expected = listing(init)
assert n == len(expected), f"the page draws {n} nodes, the listing has {len(expected)}"
for k in range(n):  # forward: each node's value appears, no gradient yet
    cdp.key("ArrowRight", "ArrowRight", 39)
    assert cdp.eval("document.body.dataset.step") == str(k), f"forward step {k}"
    assert "?" not in cdp.eval(f"document.querySelectorAll('g.node')[{k}].querySelector('.value').textContent")
assert all(t in ("", "grad ?") for t in cdp.eval(grads_text)), "a gradient before the backward pass"
for k in range(n):  # backward: node n-1-k gets its gradient
    cdp.key("ArrowRight", "ArrowRight", 39)
    shown = cdp.eval(grads_text)
    i = n - 1 - k
    if expected[i] is not None:
        assert shown[i].startswith("grad "), f"node #{i}: {shown[i]!r} after its backward step"
        assert same(numbers(shown[i][5:]), expected[i]), f"node #{i}: page {shown[i]!r}, listing {expected[i]}"
    assert all(t in ("", "grad ?") for t in shown[:i]), "a gradient before its node's step"
checked = sum(1 for g in expected.values() if g is not None)
print(f"stepped {n} nodes forward and back; {checked} gradients equal the listing's")
wide = float(cdp.eval("document.querySelector('#graph svg').getAttribute('width')"))
cdp.call("Emulation.setDeviceMetricsOverride", width=int(min(3000, max(1500, wide + 60))), height=1000,
         deviceScaleFactor=1, mobile=False)
open(shot, "wb").write(base64.b64decode(cdp.call("Page.captureScreenshot", format="png")["data"]))

# A slider, moved by key presses: the page's loss and gradients are the listing's there.
cdp.eval("document.querySelector('input[data-slider=\"0\"]').focus()")
for _ in range(3):
    cdp.key("ArrowRight", "ArrowRight", 39)
name, value = cdp.eval("[document.querySelector('#sliders label').firstChild.textContent.trim(), document.querySelector('#sliders label span').textContent.trim()]")
readout = cdp.eval("document.getElementById('readout').textContent")
others = [p for p in init.split(",") if not p.startswith(name + "=")]
moved = listing(",".join([f"{name}={value}"] + others))
for i, g in moved.items():
    if f"∂out/∂#{i} = " in readout:
        shown = readout.split(f"∂out/∂#{i} = ", 1)[1].split(";")[0]
        assert same(numbers(shown), g), f"slider {name}={value}: page ∂/∂#{i} {shown!r}, listing {g}"
print(f"slider {name} moved to {value}: the page's gradients equal the listing's there")
