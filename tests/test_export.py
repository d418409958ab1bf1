"""nas.export: the standalone module, TorchScript and ONNX files equal the in-package networks.

Weights are made non-trivial first (``_calibrate``): random linear layers, BatchNorm statistics taken
from one batch (variances floored at 0.1) and random affine parameters, so logits are of order 1 and
an equality check means something.
"""

import ast
import sys
from collections import Counter

import pytest
import torch
from torch import nn

from nas.export import ExportError, export_arch, export_model, generate, read_state_dict
from nas.export.artifacts import foldable, load_source, run_onnx
from nas.export.verify import run_fresh
from nas.models import create_model, list_models
from nas.space import load_space
from nas.supernet import build_supernet

TOL = 1e-5
SPACE_CASES = [("fbnet", 0), ("fbnet", 1), ("seeds", 0), ("seeds", 1), ("mnasnet", 0), ("mnasnet", 1)]
SPACE_PARAMS = [pytest.param(c, id=f"{c[0]}-{c[1]}", marks=[pytest.mark.slow] if c[1] else []) for c in SPACE_CASES]
WIDTH = 0.25
# TorchScript + ONNX of these baselines run by default (h-swish/SE, split-stack shuffle, index_select,
# pre-activation BN, C.ReLU scale/shift; the space archs cover MBConv, Ghost, sandglass, ShuffleNet V1);
# every other baseline's run is marked slow.
DEFAULT_ARTEFACT_MODELS = ("mobilenetv3_small_100",)  # the others (condensenet, pvanet, shufflenet...): -m slow
ALLOWED_IMPORTS = {"torch", "torch.nn", "torch.nn.functional", "typing"}


def _calibrate(model: nn.Module, res: int = 32) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.uniform_(-1, 1, generator=g).mul_(m.in_features ** -0.5)
        for m in norms:
            m.momentum = None  # one batch: running stats = that batch's stats
            m.reset_running_stats()
            if m.affine:
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
        model.train()
        model(torch.randn(4, 3, res, res, generator=g))
        for m in norms:
            m.momentum = 0.1
            m.running_var.clamp_(min=0.1)
    return model.eval()


def _diff(a, b) -> float:
    return float((a - b).abs().max())


def _batchnorm_nodes(graph):
    out = []
    for node in graph.nodes():
        if node.kind() == "aten::batch_norm":
            out.append(node)
        for block in node.blocks():
            out += _batchnorm_nodes(block)
    return out


def _assert_standalone(source: str) -> ast.Module:
    tree = ast.parse(source)
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mods.add(node.module)
    assert mods <= ALLOWED_IMPORTS, mods
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"BLOCKS", "MODELS", "ACTIVATIONS", "LAYERS", "register_model", "nas"}
    assert "build_model" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    return tree


def _network_init(tree: ast.Module, class_name: str) -> ast.FunctionDef:
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    return next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")


# --- search-space architectures -------------------------------------------------------------------
class _LazyExports(dict):
    """Exports of the SPACE_CASES, each made when a test first asks for it (a -k selection pays for its own)."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, case):
        name, seed, root = *case, self.root
        space = load_space(name, variant="cifar", width_mult=WIDTH)
        arch = space.sample(seed)
        arch_file = arch.save(root / f"{name}{seed}.yaml")
        torch.manual_seed(seed)
        child = _calibrate(space.build(arch))
        torch.save({"model": child.state_dict(), "epoch": 3}, root / f"{name}{seed}.pt")
        result = export_arch(arch_file, root / f"{name}{seed}", weights=root / f"{name}{seed}.pt", verify=False)
        self[case] = (result, child, space, arch)
        return self[case]


@pytest.fixture(scope="module")
def space_exports(tmp_path_factory):
    """Two sampled archs per space (CIFAR, width 0.25), exported through ``export_arch`` with weights."""
    return _LazyExports(tmp_path_factory.mktemp("spaces"))


@pytest.mark.parametrize("case", SPACE_PARAMS)
def test_space_arch_export_matches_child(space_exports, case):
    result, child, space, arch = space_exports[case]
    meta = result.metadata
    source = (result.out / result.files["source"]).read_text()
    tree = _assert_standalone(source)

    # explicit construction: no loops in the network's __init__, one constructor call per layer, no op names
    init = _network_init(tree, meta["class"])
    assert not any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for n in ast.walk(init))
    layers = Counter(type(b).__name__ for stage in child.stages for b in stage)
    calls = Counter(n.func.id for n in ast.walk(init) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    assert {k: calls[k] for k in layers} == dict(layers)
    strings = {n.value for n in ast.walk(init) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    op_names = {v for k, v in arch.choices.items() if isinstance(v, str) and not k.endswith(".skip_op")}
    assert not strings & op_names  # ops are constructor calls, not names looked up at build time

    net = load_source(result.out / result.files["source"]).build_model()
    assert list(net.state_dict()) == list(child.state_dict())
    weights = torch.load(result.out / "weights.pt", weights_only=True)
    net.load_state_dict(weights)
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    frozen = torch.jit.load(str(result.out / result.files["torchscript"]))
    with torch.no_grad():
        ref = child(x)
        assert _diff(net(x), ref) <= TOL
        assert _diff(frozen(x), ref) <= TOL
    assert not _batchnorm_nodes(frozen.graph)  # every BatchNorm folded into its convolution
    assert meta["torchscript"]["batchnorm"]["left"] == 0 and meta["torchscript"]["batchnorm"]["total"] > 0
    assert meta["weights"]["read_from"].endswith("['model']") and meta["space_args"]["width_mult"] == WIDTH


@pytest.mark.parametrize("case", SPACE_PARAMS)
def test_space_arch_onnx_matches_child(space_exports, case):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    result, child, _, _ = space_exports[case]
    x = torch.randn(3, 3, 32, 32)  # a batch size other than the export's: the batch axis is dynamic
    with torch.no_grad():
        assert _diff(run_onnx(result.out / result.files["onnx"], x), child(x)) <= TOL


# --- baselines ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baseline_sources(tmp_path_factory):
    """Every registered baseline's CIFAR form as a generated file plus calibrated weights."""
    root = tmp_path_factory.mktemp("baselines")
    out = {}
    for name in list_models():
        torch.manual_seed(0)
        source, model = generate(lambda: create_model(name, num_classes=10, variant="cifar"), "Net", name, name)
        folder = root / name
        folder.mkdir()
        (folder / f"{name}.py").write_text(source)
        torch.save(_calibrate(model).state_dict(), folder / "weights.pt")
        out[name] = (folder, source, model)
    return out


@pytest.mark.parametrize("name", list_models())
def test_baseline_cifar_standalone_matches(baseline_sources, name):
    folder, source, model = baseline_sources[name]
    _assert_standalone(source)
    net = load_source(folder / f"{name}.py").build_model()
    assert list(net.state_dict()) == list(model.state_dict())
    net.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert _diff(net(x), model(x)) <= TOL


@pytest.mark.parametrize("name", list_models())
def test_baseline_imagenet_form_compiles_and_builds(name):
    with torch.device("meta"):
        source, model = generate(lambda: create_model(name), "Net", name, name)
    compile(source, f"{name}.py", "exec")
    _assert_standalone(source)
    module = {}
    exec(compile(source, f"{name}.py", "exec"), module)
    with torch.device("meta"):
        net = module["build_model"]()
    assert [(k, v.shape) for k, v in net.state_dict().items()] == [(k, v.shape) for k, v in model.state_dict().items()]


@pytest.mark.parametrize("name", [n if n in DEFAULT_ARTEFACT_MODELS else pytest.param(n, marks=pytest.mark.slow)
                                  for n in list_models()])
def test_baseline_torchscript_and_onnx(baseline_sources, tmp_path, name):
    folder, _, model = baseline_sources[name]
    result = export_model(name, tmp_path / name, variant="cifar", weights=folder / "weights.pt", verify=False)
    x = torch.randn(2, 3, 32, 32)
    frozen = torch.jit.load(str(tmp_path / name / result.files["torchscript"]))
    with torch.no_grad():
        ref = model(x)
        assert _diff(frozen(x), ref) <= TOL
    # every BatchNorm that follows a convolution (read by nothing else) is folded; the rest are
    # pre-activation norms of a concatenation / index-select / shared conv output
    assert not [n for n in _batchnorm_nodes(frozen.graph) if foldable(n)]
    bn = result.metadata["torchscript"]["batchnorm"]
    assert bn["left"] == len(_batchnorm_nodes(frozen.graph)) and bn["left_foldable"] == 0
    if "onnx" in result.files:
        with torch.no_grad():
            assert _diff(run_onnx(tmp_path / name / result.files["onnx"], x), ref) <= TOL


# --- a fresh interpreter without nas --------------------------------------------------------------
@pytest.mark.slow  # 20 s: subprocesses; the default run checks every generated file imports only torch
def test_exports_run_in_a_fresh_interpreter_without_nas(space_exports, baseline_sources, tmp_path):
    items, inputs, refs, has_onnx = [], [], [], []
    gen = torch.Generator().manual_seed(3)
    for result, child, _, _ in space_exports.values():
        items.append((result.out, result.metadata["name"]))
        has_onnx.append("onnx" in result.files)
        refs.append(child)
    for name, (folder, _, model) in baseline_sources.items():  # standalone file + weights of every baseline
        items.append((folder, name))
        has_onnx.append(False)
        refs.append(model)
    for model in refs:
        inputs.append(torch.randn(2, 3, 32, 32, generator=gen))
    outs = run_fresh(items, inputs)
    for (folder, name), x, model, out, onnx_written in zip(items, inputs, refs, outs, has_onnx):
        with torch.no_grad():
            ref = model(x)
        assert _diff(out["standalone"], ref) <= TOL, name
        if (folder / f"{name}.torchscript.pt").exists():
            assert _diff(out["torchscript"], ref) <= TOL, name
        if onnx_written and "onnx" in out:
            assert _diff(out["onnx"], ref) <= TOL, name
    # the blocker is real: a file that needs nas fails there
    (tmp_path / "needs_nas.py").write_text("import nas\n\ndef build_model():\n    return None\n")
    with pytest.raises(ExportError, match="blocked"):
        run_fresh([(tmp_path, "needs_nas")], [torch.zeros(1)])


# --- weights --------------------------------------------------------------------------------------
def test_checkpoint_forms(tmp_path):
    state = create_model("mobilenetv2_035", num_classes=10, variant="cifar").state_dict()
    forms = {"plain": state, "model": {"model": state, "epoch": 2}, "state_dict": {"state_dict": state},
             "ddp": {"module." + k: v for k, v in state.items()}}
    for key, obj in forms.items():
        torch.save(obj, tmp_path / f"{key}.pt")
        got, where = read_state_dict(tmp_path / f"{key}.pt")
        assert list(got) == list(state) and str(tmp_path) in where
    torch.save({"optimizer": {"lr": 0.1}}, tmp_path / "opt.pt")
    with pytest.raises(ExportError, match=r"opt\.pt.*'optimizer'"):
        read_state_dict(tmp_path / "opt.pt")


@pytest.mark.parametrize("space_name", ["fbnet", pytest.param("mnasnet", marks=pytest.mark.slow)])
def test_weights_inherited_from_a_supernet(tmp_path, space_name):
    space = load_space(space_name, variant="cifar", width_mult=WIDTH)
    arch = space.sample(7)
    supernet = build_supernet(space)
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    torch.save({"supernet": supernet.state_dict()}, tmp_path / "supernet.pt")
    result = export_arch(arch.save(tmp_path / "arch.yaml"), tmp_path / "out", weights=tmp_path / "supernet.pt",
                         onnx=False, verify=False)
    child = supernet.extract(arch).eval()
    weights = torch.load(tmp_path / "out" / "weights.pt", weights_only=True)
    assert all(torch.equal(weights[k], v) for k, v in child.state_dict().items())
    assert result.metadata["weights"]["inherited_from_supernet"]
    net = load_source(tmp_path / "out" / result.files["source"]).build_model()
    net.load_state_dict(weights)
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert _diff(net(x), child(x)) <= TOL


def test_weights_of_a_search_checkpoint(tmp_path):
    """weights=<an fbnet search's checkpoint.pt>: the arch's weights are taken from its supernet."""
    space = load_space("fbnet", variant="cifar", width_mult=WIDTH)
    arch = space.sample(3)
    supernet = build_supernet(space)
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    torch.save({"search": {"epoch": 2, "supernet": supernet.state_dict(), "history": []}, "space": "fbnet",
                "epochs": 2, "seconds": 1.0}, tmp_path / "checkpoint.pt")
    result = export_arch(arch.save(tmp_path / "arch.yaml"), tmp_path / "out", weights=tmp_path / "checkpoint.pt",
                         onnx=False, verify=False)
    weights = torch.load(tmp_path / "out" / "weights.pt", weights_only=True)
    assert all(torch.equal(weights[k], v) for k, v in supernet.extract(arch).state_dict().items())
    assert result.metadata["weights"]["read_from"].endswith("['search']['supernet']")


def test_verification_catches_what_fresh_weights_hide(tmp_path, monkeypatch):
    """An artefact off by 0.1% passes any absolute check on fresh weights (logits ~1e-7 here), and fails
    the check on randomised weights."""
    from nas.export import artifacts

    real = artifacts.freeze

    class Scaled(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x) * 1.001

    monkeypatch.setattr(artifacts, "freeze", lambda net: real(Scaled(net)))
    with pytest.raises(ExportError, match="verification: torchscript: expected outputs within 1e-04 x max"):
        export_model("mobilenetv2_035", tmp_path / "out", variant="cifar", onnx=False, fresh=False)
    assert not (tmp_path / "out").exists()


def test_onnx_skipped_cleanly_without_the_extra(tmp_path, monkeypatch):
    from nas.export import artifacts

    monkeypatch.setattr(artifacts, "onnx_status", lambda: "skipped: onnx and onnxruntime not installed")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mobilenetv2_035.onnx").write_text("stale")
    result = export_model("mobilenetv2_035", tmp_path / "out", variant="cifar", verify=False)
    assert "onnx" not in result.files and result.metadata["onnx"]["status"].startswith("skipped")
    assert not (tmp_path / "out" / "mobilenetv2_035.onnx").exists()  # no stale ONNX left beside new files
    assert "ONNX: skipped" in (tmp_path / "out" / "README.md").read_text()
    assert result.metadata["weights"] == {"origin": "fresh", "seed": 0}


# --- generated code details -----------------------------------------------------------------------
def test_clashing_names_are_renamed(tmp_path, monkeypatch):
    """Two package modules defining the same names: both are emitted, the second renamed."""
    import importlib.util

    from nas.space.base import ChildNet

    body = ("import torch\nfrom torch import nn\n\nSCALE = {scale}\n\n\ndef helper(x):\n    return x * SCALE\n\n\n"
            "class Block{tag}(nn.Module):\n    def __init__(self):\n        super().__init__()\n\n"
            "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return helper(x)\n")
    blocks = []
    for tag, scale in (("A", 2.0), ("B", 3.0)):
        path = tmp_path / f"clash_{tag}.py"
        path.write_text(body.format(scale=scale, tag=tag))
        spec = importlib.util.spec_from_file_location(f"nas._test_clash_{tag}", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        blocks.append(getattr(module, f"Block{tag}"))
    source, model = generate(lambda: ChildNet(nn.Identity(), [[blocks[0](), blocks[1]()]], nn.Identity(),
                                              nn.Identity()), "Net", "clash", "clash")
    assert "def helper(" in source and "def helper__test_clash_B(" in source and "SCALE__test_clash_B = 3.0" in source
    module = {}
    exec(compile(source, "clash.py", "exec"), module)
    x = torch.randn(2, 3)
    assert torch.equal(module["build_model"]()(x), model(x)) and torch.equal(model(x), x * 6)


def test_submodule_swapped_after_construction_is_assigned(baseline_sources):
    """CondenseNet swaps its classifier's fc after building it; nested, such a module becomes a local."""
    from nas.blocks.condense import CondensedLinear
    from nas.layers import Classifier
    from nas.space.base import ChildNet

    _, source, _ = baseline_sources["condensenet74_c8_g8"]
    assert "self.classifier.fc = CondensedLinear(" in source

    def build():
        head = Classifier(8, 8)
        head.fc = CondensedLinear(8, 8, 0.5)
        return ChildNet(nn.Identity(), [[nn.Unflatten(1, (8, 1, 1)), head]], nn.Identity(), nn.Identity())

    source, model = generate(build, "Net", "swap", "swap")
    assert "module_1 = Classifier(8, 8)" in source and "module_1.fc = CondensedLinear(8, 8, 0.5)" in source
    module = {}
    exec(compile(source, "swap.py", "exec"), module)
    net = module["build_model"]()
    net.load_state_dict(model.state_dict())
    x = torch.randn(2, 8)
    assert torch.equal(net(x), model(x))
