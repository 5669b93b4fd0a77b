#!/usr/bin/env python3
# Usage: bench/probes/quay_shared_config.py HOST:PORT NAMESPACE/REPO (a Quay from
# scripts/quay/start.sh, admin / password123; writes two sha256-0…0N.sig tags).
# Does Quay accept cosign-style signature manifests sharing one config blob
# whose diff_ids do not list their layers (issue 18, lever 1)?
import base64, hashlib, json, sys, urllib.request
H = sys.argv[1]; REPO = sys.argv[2]
def req(method, url, body=None, headers=None, token=None):
    r = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if token: r.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(r) as resp: return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e: return e.code, dict(e.headers), e.read()
basic = base64.b64encode(b"admin:password123").decode()
st, _, body = req("GET", f"http://{H}/v2/auth?service={H}&scope=repository:{REPO}:pull,push", headers={"Authorization": "Basic " + basic})
token = json.loads(body)["token"]
def put_blob(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    st, h, _ = req("POST", f"http://{H}/v2/{REPO}/blobs/uploads/", b"", token=token)
    loc = h["Location"]; loc = loc if loc.startswith("http") else f"http://{H}{loc}"
    sep = "&" if "?" in loc else "?"
    st, _, b = req("PUT", f"{loc}{sep}digest={d}", data, {"Content-Type": "application/octet-stream"}, token)
    assert st == 201, (st, b)
    return d, len(data)
shared = json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z", "history": [], "os": "",
                     "rootfs": {"type": "layers", "diff_ids": []}, "config": {}}).encode()
cd, cl = put_blob(shared)
for n in (1, 2):
    layers = []
    for i in range(n):
        payload = json.dumps({"critical": {"image": {"docker-manifest-digest": "sha256:" + "0" * 63 + str(i)}}, "n": n}).encode()
        pd, pl = put_blob(payload)
        layers.append({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": pl, "digest": pd,
                       "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": cl, "digest": cd},
                           "layers": layers}).encode()
    tag = f"sha256-{'%064d' % n}.sig"
    st, h, b = req("PUT", f"http://{H}/v2/{REPO}/manifests/{tag}", manifest,
                   {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, token)
    print(f"{n} layer(s), shared config without diff_ids: PUT {tag} -> {st} {b[:200]!r}")
    st, _, b = req("GET", f"http://{H}/v2/{REPO}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, token=token)
    print(f"  GET back -> {st}, same bytes: {b == manifest}")
