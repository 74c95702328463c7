#!/usr/bin/env python3
"""A small Open Inference Protocol (KServe v2) gRPC server on PyTorch.

It serves one model, a ResNet-50 with random weights (torchvision's when it
imports, else the compact definition below), FP32 input [-1,3,224,224] and
FP32 output [-1,1000], on the GPU, so gpuperf's kserve backend can drive a
real GPU with nothing but this script, PyTorch and grpcio:

    python3 scripts/oip_server.py --port 8001 --device cuda --model-name resnet50
    bin/gpuperf bench --backend kserve --backend-opt endpoint=127.0.0.1:8001 \
        --backend-opt model=resnet50 --backend-opt batch=8 --scenario offline

RPCs: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata,
ModelInfer and ModelStreamInfer (requests on a stream are answered in
order), tensors as raw_input_contents / raw_output_contents (FP32
fp32_contents are accepted too). Concurrent requests are batched
dynamically: one thread runs the model on everything queued, up to
--max-batch samples.

ModelStatistics (Triton's statistics extension, listed in ServerMetadata)
reports the model's cumulative counts since the server started (the
warm-up left out): inference_count (samples), execution_count (model
executions: one dynamic batch counts 1), and per request the time in
success, fail, queue (waiting for the batcher), compute_input (decoding
the request, copying it into the batch and to the device), compute_infer
(the forward pass, synchronised with the GPU) and compute_output (copying
back to the host and encoding the response). A request in a batch counts
the whole batch's compute times, as in Triton; batch_stats has them per
execution by batch size.

The protobuf messages are encoded and decoded by the small wire codec in
this file, so neither grpcio-tools nor the protobuf package is needed.
`--self-test FILE` checks the codec and the request handling without
PyTorch or grpcio (see inference/backend/kserve's tests).
"""

import argparse
import ctypes
import json
import queue
import signal
import sys
import threading
import time
import warnings

SERVICE = "inference.GRPCInferenceService"
SERVER_NAME = "gpuperf-oip-pytorch"
SERVER_VERSION = "1"
MODEL_VERSION = "1"
INPUT_NAME, OUTPUT_NAME = "input", "output"
SAMPLE_SHAPE = (3, 224, 224)
CLASSES = 1000
SAMPLE_BYTES = 3 * 224 * 224 * 4
OUTPUT_BYTES = CLASSES * 4

# ---------------------------------------------------------------------------
# Protobuf wire codec: just what the messages of grpc_service.proto need.

_MASK64 = (1 << 64) - 1


class DecodeError(ValueError):
    """A message that is not valid protobuf wire data."""


def _varint(n):
    n &= _MASK64  # negative int64 travels as its 64-bit two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result & _MASK64, i
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def _int64(u):
    return u - (1 << 64) if u >= 1 << 63 else u


def fields(buf):
    """Yields (field number, wire type, value) of a message: an int for
    varints and fixed-size values, a memoryview for length-delimited ones."""
    buf = memoryview(buf)
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise DecodeError("field number 0")
        if wt == 0:
            v, i = _read_varint(buf, i)
        elif wt == 1:
            if i + 8 > len(buf):
                raise DecodeError("truncated fixed64")
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise DecodeError("length-delimited field past the end")
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            if i + 4 > len(buf):
                raise DecodeError("truncated fixed32")
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise DecodeError("unsupported wire type %d" % wt)
        yield num, wt, v


def _ints(wt, v):
    """A repeated int64 field's values, packed or not."""
    if wt == 0:
        return [_int64(v)]
    if wt != 2:
        raise DecodeError("int64 field with wire type %d" % wt)
    out, i = [], 0
    while i < len(v):
        u, i = _read_varint(v, i)
        out.append(_int64(u))
    return out


def _str(v):
    try:
        return bytes(v).decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError("string field: %s" % e) from None


def decode_name_version(buf):
    """ModelReadyRequest, ModelMetadataRequest and ModelStatisticsRequest:
    name = 1, version = 2."""
    m = {"name": "", "version": ""}
    for num, wt, v in fields(buf):
        if num == 1 and wt == 2:
            m["name"] = _str(v)
        elif num == 2 and wt == 2:
            m["version"] = _str(v)
    return m


def _decode_input(buf):
    t = {"name": "", "datatype": "", "shape": [], "fp32": None}
    for num, wt, v in fields(buf):
        if num == 1 and wt == 2:
            t["name"] = _str(v)
        elif num == 2 and wt == 2:
            t["datatype"] = _str(v)
        elif num == 3:
            t["shape"].extend(_ints(wt, v))
        elif num == 5 and wt == 2:
            # InferTensorContents: fp32_contents = 6, packed floats are the
            # raw little-endian data already.
            data = bytearray()
            for cn, cwt, cv in fields(v):
                if cn == 6 and cwt == 2:
                    data += cv
                elif cn == 6 and cwt == 5:
                    data += cv.to_bytes(4, "little")
                else:
                    raise DecodeError("only fp32_contents are supported in contents (field %d)" % cn)
            t["fp32"] = bytes(data)
    return t


def decode_infer_request(buf):
    """ModelInferRequest: model_name 1, model_version 2, id 3, parameters 4
    (ignored), inputs 5, outputs 6, raw_input_contents 7."""
    m = {"model_name": "", "model_version": "", "id": "", "inputs": [], "outputs": [], "raw": []}
    for num, wt, v in fields(buf):
        if wt != 2:
            continue
        if num == 1:
            m["model_name"] = _str(v)
        elif num == 2:
            m["model_version"] = _str(v)
        elif num == 3:
            m["id"] = _str(v)
        elif num == 5:
            m["inputs"].append(_decode_input(v))
        elif num == 6:
            name = ""
            for on, owt, ov in fields(v):
                if on == 1 and owt == 2:
                    name = _str(ov)
            m["outputs"].append(name)
        elif num == 7:
            m["raw"].append(v)  # a memoryview into the request: no copy
    return m


def _key(num, wt):
    return _varint(num << 3 | wt)


def _bytes_field(num, b):
    return _key(num, 2) + _varint(len(b)) + bytes(b)


def _string_field(num, s):
    return _bytes_field(num, s.encode("utf-8")) if s else b""


def _bool_field(num, v):
    return _key(num, 0) + _varint(1) if v else b""


def _uint_field(num, v):
    return _key(num, 0) + _varint(v) if v else b""


def _shape_field(num, shape):
    return _bytes_field(num, b"".join(_varint(d) for d in shape)) if shape else b""


def encode_bool_response(v):
    """ServerLiveResponse, ServerReadyResponse, ModelReadyResponse: field 1."""
    return _bool_field(1, v)


def encode_server_metadata(name, version, extensions):
    return _string_field(1, name) + _string_field(2, version) + b"".join(_string_field(3, e) for e in extensions)


def _tensor_metadata(name, datatype, shape):
    return _string_field(1, name) + _string_field(2, datatype) + _shape_field(3, shape)


def encode_model_metadata(name, versions, platform, inputs, outputs):
    """inputs and outputs: (name, datatype, shape) triples."""
    out = _string_field(1, name) + b"".join(_string_field(2, v) for v in versions) + _string_field(3, platform)
    out += b"".join(_bytes_field(4, _tensor_metadata(*t)) for t in inputs)
    out += b"".join(_bytes_field(5, _tensor_metadata(*t)) for t in outputs)
    return out


def encode_infer_response(model_name, model_version, rid, outputs):
    """outputs: (name, datatype, shape, raw bytes); the data travels in
    raw_output_contents, one entry per output in order."""
    out = _string_field(1, model_name) + _string_field(2, model_version) + _string_field(3, rid)
    for name, datatype, shape, _ in outputs:
        out += _bytes_field(5, _tensor_metadata(name, datatype, shape))
    for *_, raw in outputs:
        out += _bytes_field(6, raw)
    return out


def encode_stream_response(error_message="", infer_response=None):
    """ModelStreamInferResponse: error_message 1, infer_response 2."""
    out = _string_field(1, error_message)
    if infer_response is not None:
        out += _bytes_field(2, infer_response)
    return out


def _duration(count, ns):
    """StatisticDuration: count 1, ns 2."""
    return _uint_field(1, count) + _uint_field(2, ns)


# InferStatistics' fields, in field-number order (cache_hit 7 and
# cache_miss 8 are left out: there is no cache).
INFER_PHASES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
# InferBatchStatistics' durations, fields 2 to 4.
BATCH_PHASES = ("compute_input", "compute_infer", "compute_output")


def encode_model_statistics(name, version, last_inference_ms, inference_count, execution_count, phases, batches):
    """ModelStatistics: name 1, version 2, last_inference 3 (ms since the
    epoch), inference_count 4, execution_count 5, inference_stats 6
    (InferStatistics: the INFER_PHASES, fields 1 to 6), batch_stats 7
    (InferBatchStatistics: batch_size 1, the BATCH_PHASES 2 to 4). phases
    maps a phase to (count, ns); batches maps a batch size to such a map."""
    out = _string_field(1, name) + _string_field(2, version) + _uint_field(3, last_inference_ms)
    out += _uint_field(4, inference_count) + _uint_field(5, execution_count)
    out += _bytes_field(6, b"".join(_bytes_field(i + 1, _duration(*phases[p])) for i, p in enumerate(INFER_PHASES)))
    for size in sorted(batches):
        b = batches[size]
        out += _bytes_field(7, _uint_field(1, size) + b"".join(_bytes_field(i + 2, _duration(*b[p])) for i, p in enumerate(BATCH_PHASES)))
    return out


def encode_statistics_response(model_stats):
    """ModelStatisticsResponse: model_stats 1, encoded ModelStatistics."""
    return b"".join(_bytes_field(1, m) for m in model_stats)


# ---------------------------------------------------------------------------
# Request handling, independent of gRPC and PyTorch.


class InvalidRequest(Exception):
    """A request the model cannot serve: INVALID_ARGUMENT (NOT_FOUND when
    not_found is set)."""

    def __init__(self, msg, not_found=False):
        super().__init__(msg)
        self.not_found = not_found


class ModelStats:
    """One model's cumulative statistics, for ModelStatistics. Requests are
    served on many threads: a lock guards every counter."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inference_count = self.execution_count = self.last_inference_ms = 0
        self.phases = {p: [0, 0] for p in INFER_PHASES}
        self.batches = {}  # batch size: {phase: [count, ns]}

    def success(self, samples, total_ns, phase_ns):
        """A request of samples that succeeded in total_ns; phase_ns maps
        queue and the compute phases to its time in each."""
        now_ms = time.time_ns() // 1_000_000
        with self.lock:
            self.inference_count += samples
            self.last_inference_ms = max(self.last_inference_ms, now_ms)
            for p, ns in (("success", total_ns), *phase_ns.items()):
                d = self.phases[p]
                d[0] += 1
                d[1] += max(ns, 0)

    def fail(self, total_ns):
        with self.lock:
            d = self.phases["fail"]
            d[0] += 1
            d[1] += max(total_ns, 0)

    def execution(self, size, input_ns, infer_ns, output_ns):
        """One model execution of size samples (a dynamic batch)."""
        with self.lock:
            self.execution_count += 1
            b = self.batches.get(size)
            if b is None:
                b = self.batches[size] = {p: [0, 0] for p in BATCH_PHASES}
            for p, ns in zip(BATCH_PHASES, (input_ns, infer_ns, output_ns)):
                b[p][0] += 1
                b[p][1] += ns

    def encode(self, name, version):
        with self.lock:
            return encode_model_statistics(name, version, self.last_inference_ms, self.inference_count, self.execution_count,
                                           self.phases, self.batches)


class Service:
    """The protocol's logic. run(raw input bytes, n, phase_ns) returns the
    raw output of the n samples and adds the time the request spent in
    queue, compute_input, compute_infer and compute_output to phase_ns; it
    is the Batcher's submit in the server."""

    def __init__(self, model_name, platform, run):
        self.model_name = model_name
        self.platform = platform
        self.run = run
        self.stats = ModelStats()

    def known(self, name, version):
        return name == self.model_name and version in ("", MODEL_VERSION)

    def model_ready(self, req):
        m = decode_name_version(req)
        return encode_bool_response(self.known(m["name"], m["version"]))

    def model_metadata(self, req):
        m = decode_name_version(req)
        if not self.known(m["name"], m["version"]):
            raise InvalidRequest("unknown model: '%s' version '%s'" % (m["name"], m["version"]), not_found=True)
        return encode_model_metadata(
            self.model_name, [MODEL_VERSION], self.platform,
            [(INPUT_NAME, "FP32", [-1, *SAMPLE_SHAPE])], [(OUTPUT_NAME, "FP32", [-1, CLASSES])])

    def model_statistics(self, req):
        """ModelStatisticsRequest: an empty name asks for every model (the
        one), an unknown one is NOT_FOUND."""
        try:
            m = decode_name_version(req)
        except DecodeError as e:
            raise InvalidRequest("malformed ModelStatisticsRequest: %s" % e) from None
        if m["name"] and not self.known(m["name"], m["version"]):
            raise InvalidRequest("unknown model: '%s' version '%s'" % (m["name"], m["version"]), not_found=True)
        if not m["name"] and m["version"] not in ("", MODEL_VERSION):
            raise InvalidRequest("unknown version '%s'" % m["version"], not_found=True)
        return encode_statistics_response([self.stats.encode(self.model_name, MODEL_VERSION)])

    def infer(self, req):
        """Decodes, checks and runs one ModelInferRequest; returns the
        encoded ModelInferResponse. The model's statistics count it: a
        failure once the model is known as fail, a success by phase."""
        t0 = time.monotonic_ns()
        try:
            m = decode_infer_request(req)
        except DecodeError as e:
            raise InvalidRequest("malformed ModelInferRequest: %s" % e) from None
        if not self.known(m["model_name"], m["model_version"]):
            raise InvalidRequest("unknown model: '%s' version '%s'" % (m["model_name"], m["model_version"]), not_found=True)
        try:
            return self._infer(m, t0)
        except BaseException:
            self.stats.fail(time.monotonic_ns() - t0)
            raise

    def _infer(self, m, t0):
        if len(m["inputs"]) != 1:
            raise InvalidRequest("expected 1 input but got %d for model '%s'" % (len(m["inputs"]), self.model_name))
        t = m["inputs"][0]
        if t["name"] != INPUT_NAME:
            raise InvalidRequest("unexpected inference input '%s' for model '%s'" % (t["name"], self.model_name))
        if t["datatype"] != "FP32":
            raise InvalidRequest("inference input '%s' data-type is '%s', but model '%s' expects 'FP32'" % (t["name"], t["datatype"], self.model_name))
        shape = t["shape"]
        if len(shape) != 4 or tuple(shape[1:]) != SAMPLE_SHAPE or shape[0] < 1:
            raise InvalidRequest("unexpected shape for input '%s' for model '%s'. Expected [-1,3,224,224], got %s" % (t["name"], self.model_name, shape))
        n = shape[0]
        if m["raw"]:
            if len(m["raw"]) != 1 or t["fp32"] is not None:
                raise InvalidRequest("want one raw_input_contents entry and no contents, got %d entries" % len(m["raw"]))
            raw = m["raw"][0]
        elif t["fp32"] is not None:
            raw = t["fp32"]
        else:
            raise InvalidRequest("input '%s' has no data" % t["name"])
        if len(raw) != n * SAMPLE_BYTES:
            raise InvalidRequest("unexpected total byte size %d for input '%s', expecting %d" % (len(raw), t["name"], n * SAMPLE_BYTES))
        for name in m["outputs"]:
            if name != OUTPUT_NAME:
                raise InvalidRequest("unexpected inference output '%s' for model '%s'" % (name, self.model_name))
        phase_ns = {"queue": 0, "compute_input": 0, "compute_infer": 0, "compute_output": 0}
        t1 = time.monotonic_ns()
        out = self.run(raw, n, phase_ns)
        t2 = time.monotonic_ns()
        resp = encode_infer_response(self.model_name, MODEL_VERSION, m["id"], [(OUTPUT_NAME, "FP32", [n, CLASSES], out)])
        t3 = time.monotonic_ns()
        # Decoding and checking the request prepare its input; encoding the
        # response extracts its output.
        phase_ns["compute_input"] += t1 - t0
        phase_ns["compute_output"] += t3 - t2
        self.stats.success(n, t3 - t0, phase_ns)
        return resp


# ---------------------------------------------------------------------------
# The model and the batcher (PyTorch).


def compact_resnet50(torch):
    """ResNet-50 (v1.5: the stride on the 3x3 convolution), as torchvision
    defines it, for machines without torchvision."""
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            out = planes * 4
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != out:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + identity)

    layers = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, stride=2, padding=1)]
    inplanes = 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            layers.append(Bottleneck(inplanes, planes, stride if b == 0 else 1))
            inplanes = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, CLASSES)]
    return nn.Sequential(*layers)


def load_model(torch, device, precision):
    """Returns (model, platform): torchvision's ResNet-50 when it imports."""
    torch.manual_seed(0)  # the same random weights every time
    try:
        import torchvision
        model, platform = torchvision.models.resnet50(weights=None), "pytorch_torchvision"
    except Exception:  # torchvision missing or broken: the same network, defined here
        model, platform = compact_resnet50(torch), "pytorch_builtin"
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return model.eval().to(device=device, dtype=dtype), platform


class Batcher:
    """Runs the model on one thread over every request queued, up to
    max_batch samples at a time: dynamic batching of concurrent requests.
    Each execution is timed by phase, synchronised with the GPU, and
    reported to on_execution(size, input ns, infer ns, output ns) when it
    is set."""

    def __init__(self, torch, model, device, precision, max_batch):
        self.torch, self.model, self.device, self.max_batch = torch, model, device, max_batch
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        pin = device.startswith("cuda")
        if pin:
            dev = torch.device(device)
            self.sync = lambda: torch.cuda.synchronize(dev)
        else:
            self.sync = lambda: None
        self.on_execution = None
        self.host_in = torch.empty((max_batch, *SAMPLE_SHAPE), dtype=torch.float32, pin_memory=pin)
        self.host_out = torch.empty((max_batch, CLASSES), dtype=torch.float32, pin_memory=pin)
        self.q = queue.Queue()
        self.batches = self.samples = 0
        self.thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
        self.thread.start()

    def submit(self, raw, n, phase_ns=None):
        """Runs n samples (raw FP32 bytes) and returns the raw FP32 output.
        A request larger than max_batch runs in pieces. phase_ns, when
        given, gains the request's time in queue (waiting for the batcher)
        and in its executions' compute_input, compute_infer and
        compute_output, summed over the pieces."""
        if n > self.max_batch:
            per = self.max_batch * SAMPLE_BYTES
            return b"".join(self.submit(raw[i:i + per], len(raw[i:i + per]) // SAMPLE_BYTES, phase_ns) for i in range(0, len(raw), per))
        item = {"raw": raw, "n": n, "done": threading.Event(), "out": None, "err": None, "queued": time.monotonic_ns(), "phases": None}
        self.q.put(item)
        item["done"].wait()
        if item["err"] is not None:
            raise item["err"]
        if phase_ns is not None:
            for p, ns in item["phases"].items():
                phase_ns[p] += ns
        return item["out"]

    def close(self):
        self.q.put(None)
        self.thread.join()

    def _loop(self):
        held = None
        while True:
            first = held if held is not None else self.q.get()
            held = None
            if first is None:
                return
            items, total = [first], first["n"]
            while total < self.max_batch:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.q.put(None)  # stop after this batch
                    break
                if total + nxt["n"] > self.max_batch:
                    held = nxt  # first in the next batch
                    break
                items.append(nxt)
                total += nxt["n"]
            try:
                self._run(items, total)
            except Exception as e:  # the error goes to each waiting request
                for it in items:
                    it["err"] = e
            for it in items:
                it["done"].set()

    def _run(self, items, total):
        torch = self.torch
        t0 = time.monotonic_ns()
        row = 0
        for it in items:
            # A view of the request's bytes; the one copy is into the
            # pinned batch buffer.
            x = torch.frombuffer(it["raw"], dtype=torch.float32).view(it["n"], *SAMPLE_SHAPE)
            self.host_in[row:row + it["n"]].copy_(x)
            row += it["n"]
        with torch.inference_mode():
            x = self.host_in[:total].to(self.device, non_blocking=True).to(self.dtype)
            self.sync()  # the input is on the device
            t1 = time.monotonic_ns()
            y = self.model(x).float()
            self.sync()  # the forward pass has run, not just been queued
            t2 = time.monotonic_ns()
            self.host_out[:total].copy_(y)  # synchronizes with the device
        base, off = self.host_out.data_ptr(), 0
        for it in items:
            it["out"] = ctypes.string_at(base + off, it["n"] * OUTPUT_BYTES)
            off += it["n"] * OUTPUT_BYTES
        t3 = time.monotonic_ns()
        for it in items:
            it["phases"] = {"queue": t0 - it["queued"], "compute_input": t1 - t0, "compute_infer": t2 - t1, "compute_output": t3 - t2}
        self.batches += 1
        self.samples += total
        if self.on_execution is not None:
            self.on_execution(total, t1 - t0, t2 - t1, t3 - t2)


# ---------------------------------------------------------------------------
# gRPC.


def _same(b):
    return b


def serve(args):
    import grpc
    from concurrent import futures

    import torch

    # The requests' bytes are read-only; torch.frombuffer only reads them.
    warnings.filterwarnings("ignore", message="The given buffer is not writable")
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("oip_server: --device cuda, but PyTorch sees no GPU")
    model, platform = load_model(torch, device, args.precision)
    batcher = Batcher(torch, model, device, args.precision, args.max_batch)
    # Warm up (cuDNN's algorithm choice, allocations) before reporting ready.
    for n in (1, args.max_batch):
        batcher.submit(bytes(n * SAMPLE_BYTES), n)
    svc = Service(args.model_name, platform, batcher.submit)
    batcher.on_execution = svc.stats.execution  # from here on: the warm-up is left out

    def unary(fn):
        def handler(req, ctx):
            try:
                return fn(req)
            except InvalidRequest as e:
                ctx.abort(grpc.StatusCode.NOT_FOUND if e.not_found else grpc.StatusCode.INVALID_ARGUMENT, str(e))
            except Exception as e:
                ctx.abort(grpc.StatusCode.INTERNAL, "%s: %s" % (type(e).__name__, e))
        return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=_same, response_serializer=_same)

    def stream_infer(reqs, ctx):
        for req in reqs:
            try:
                yield encode_stream_response(infer_response=svc.infer(req))
            except Exception as e:
                rid = ""
                try:
                    rid = decode_infer_request(req)["id"]
                except DecodeError:
                    pass
                yield encode_stream_response(str(e), encode_infer_response("", "", rid, []))

    handlers = {
        "ServerLive": unary(lambda req: encode_bool_response(True)),
        "ServerReady": unary(lambda req: encode_bool_response(True)),
        "ModelReady": unary(svc.model_ready),
        "ServerMetadata": unary(lambda req: encode_server_metadata(SERVER_NAME, SERVER_VERSION, ["statistics"])),
        "ModelMetadata": unary(svc.model_metadata),
        "ModelInfer": unary(svc.infer),
        "ModelStatistics": unary(svc.model_statistics),
        "ModelStreamInfer": grpc.stream_stream_rpc_method_handler(stream_infer, request_deserializer=_same, response_serializer=_same),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads),
                         options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    addr = "%s:%d" % (args.host, args.port)
    if server.add_insecure_port(addr) == 0:
        sys.exit("oip_server: cannot listen on %s" % addr)
    server.start()
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    # SIGTERM or SIGINT stops the server (a shell starts background jobs
    # with SIGINT ignored, so scripts send SIGTERM).
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("ready on %s: model %s (%s, %s, %s), max batch %d" % (addr, args.model_name, platform, name, args.precision, args.max_batch), flush=True)
    while not stop.wait(1):
        pass
    server.stop(grace=1).wait()
    batcher.close()
    print("served %d batches, %d samples" % (batcher.batches, batcher.samples), flush=True)


def self_test(path):
    """Decodes the messages in a JSON file of hex strings (keys
    model_infer_request, model_ready_request, model_metadata_request,
    bad_* infer requests, and optionally model_statistics_request,
    statistics_all_request and statistics_unknown_request, answered after
    the infer requests), answers them with a zero-output model that takes
    known phase times, and prints what it decoded and the hex of every
    response, for the Go test to check."""
    with open(path) as f:
        msgs = {k: bytes.fromhex(v) for k, v in json.load(f).items()}
    calls = []

    def zeros(raw, n, phase_ns):
        calls.append((len(raw), n, bytes(raw[:8]).hex()))
        # Known phase times, for the Go test to find in the statistics.
        for i, p in enumerate(("queue", "compute_input", "compute_infer", "compute_output")):
            phase_ns[p] += (i + 1) * 1000
        svc.stats.execution(n, 2000, 3000, 4000)
        return bytes(n * OUTPUT_BYTES)

    svc = Service("resnet50", "selftest", zeros)
    out = {}
    req = decode_infer_request(msgs["model_infer_request"])
    out["decoded"] = {
        "model_name": req["model_name"], "model_version": req["model_version"], "id": req["id"],
        "inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": t["shape"]} for t in req["inputs"]],
        "raw_lengths": [len(r) for r in req["raw"]],
    }
    out["model_infer_response"] = svc.infer(msgs["model_infer_request"]).hex()
    out["runs"] = [{"bytes": b, "n": n, "head": h} for b, n, h in calls]
    out["model_ready_response"] = svc.model_ready(msgs["model_ready_request"]).hex()
    out["model_metadata_response"] = svc.model_metadata(msgs["model_metadata_request"]).hex()
    out["server_metadata_response"] = encode_server_metadata(SERVER_NAME, SERVER_VERSION, ["a", "b"]).hex()
    out["stream_error_response"] = encode_stream_response("bad", encode_infer_response("", "", "7", [])).hex()
    errors = {}
    for key in msgs:
        if key.startswith("bad_"):
            try:
                svc.infer(msgs[key])
                errors[key] = ""
            except InvalidRequest as e:
                errors[key] = ("NOT_FOUND: " if e.not_found else "INVALID_ARGUMENT: ") + str(e)
    out["errors"] = errors
    # After the one success and the bad_ requests' failures.
    if "model_statistics_request" in msgs:
        out["model_statistics_response"] = svc.model_statistics(msgs["model_statistics_request"]).hex()
    for key in ("statistics_all_request", "statistics_unknown_request"):
        if key in msgs:
            try:
                out[key.replace("_request", "_response")] = svc.model_statistics(msgs[key]).hex()
            except InvalidRequest as e:
                errors[key] = ("NOT_FOUND: " if e.not_found else "INVALID_ARGUMENT: ") + str(e)
    json.dump(out, sys.stdout)
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--model-name", default="resnet50")
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32", help="compute precision (the wire is FP32)")
    p.add_argument("--max-batch", type=int, default=64, help="most samples the model runs at once")
    p.add_argument("--threads", type=int, default=64, help="gRPC handler threads: requests served at once")
    p.add_argument("--self-test", metavar="FILE", help="check the codec on messages from FILE and exit")
    args = p.parse_args()
    if args.self_test:
        self_test(args.self_test)
        return
    if args.max_batch < 1 or args.threads < 1:
        p.error("--max-batch and --threads must be at least 1")
    serve(args)


if __name__ == "__main__":
    main()
