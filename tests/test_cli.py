"""The ``lrsolve`` command line: demo, solve, info and the error paths."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import lrsolve
from lrsolve.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "lrsolve", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


def poisson2d(n):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    eye = sp.identity(n)
    return (sp.kron(eye, T) + sp.kron(T, eye)).tocsr()


@pytest.fixture
def spd_files(tmp_path):
    """A 2D Poisson matrix (n=144) with a variable diagonal and a random rhs, as .mtx files."""
    rng = np.random.default_rng(1)
    A = poisson2d(12) + sp.diags(rng.uniform(0.0, 1.0, 144))
    b = rng.standard_normal(144)
    pa, pb = tmp_path / "A.mtx", tmp_path / "b.mtx"
    scipy.io.mmwrite(pa, A.tocoo(), symmetry="symmetric")
    scipy.io.mmwrite(pb, b.reshape(-1, 1))
    return A.tocsr(), b, str(pa), str(pb)


def rel_res(A, x, b):
    A = A.astype(np.float64)
    return np.linalg.norm(b - A @ x.astype(np.float64)) / np.linalg.norm(b)


# ----------------------------------------------------------------------------- demo
def test_demo_subprocess_table():
    proc = run_cli("demo", "--n", "32", "--rtol", "1e-8")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "32x32 grid: 1,024 unknowns" in out
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 6 and cells[1].isdigit():
            rows[cells[0]] = (int(cells[1]), float(cells[5]))
    assert "lrsolve cg" in rows and "scipy.sparse.linalg.cg" in rows
    assert "lrsolve cg + jacobi" in rows
    for name in lrsolve.precond.available():
        if name == "amg" and "amg: skipped" in out:
            continue
        assert f"lrsolve cg + {name}" in rows, (name, out)
    # every method meets the tolerance on the recomputed true residual
    for name, (_, relres) in rows.items():
        assert relres <= 1e-8 * 1.0001, (name, relres)
    # same algorithm as SciPy's cg: the same iteration count (within rounding)
    assert abs(rows["lrsolve cg"][0] - rows["scipy.sparse.linalg.cg"][0]) <= 2
    # the matrix-free stencil is the same matrix: the same iterations
    if "lrsolve cg, matrix-free" in rows:
        assert abs(rows["lrsolve cg, matrix-free"][0] - rows["lrsolve cg"][0]) <= 2
    # constant diagonal: Jacobi is a scaling and changes nothing
    assert abs(rows["lrsolve cg + jacobi"][0] - rows["lrsolve cg"][0]) <= 2
    # the good preconditioners cut the iterations
    for name in ("ic0", "ssor", "amg"):
        if f"lrsolve cg + {name}" in rows:
            assert rows[f"lrsolve cg + {name}"][0] < rows["lrsolve cg"][0], name


@pytest.mark.slow
def test_readme_iteration_table_matches_demo():
    """The iteration counts that README.md quotes are what ``lrsolve demo`` prints."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    table = {}
    for line in readme.splitlines():
        m = re.match(r"^\| `lrsolve\.cg`, (?:`precond=\"(\w+)\"`|CSR.*?)[^|]*\| (\d+) \|$", line)
        if m:
            table[m.group(1) or None] = int(m.group(2))
        elif line.startswith("| `scipy.sparse.linalg.cg`"):
            table["scipy"] = int(line.rsplit("|", 2)[1])
    assert None in table and "scipy" in table and "ic0" in table, table
    proc = run_cli("demo", timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 6 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    for key, it in table.items():
        label = {None: "lrsolve cg", "scipy": "scipy.sparse.linalg.cg"}.get(key)
        label = label or f"lrsolve cg + {key}"
        if label not in rows:  # e.g. amg without PyAMG
            continue
        assert abs(rows[label] - it) <= 2, (label, rows[label], it)


def test_demo_matrix_and_its_fallback_match_poisson(capsys, monkeypatch):
    from lrsolve.cli import _poisson_csr

    ref = poisson2d(6)
    A, source = _poisson_csr(6)
    assert abs(A - ref).max() == 0
    monkeypatch.delattr(lrsolve.operators, "poisson", raising=False)
    A2, source2 = _poisson_csr(6)
    assert source2 == "scipy.sparse.kron" and abs(A2 - ref).max() == 0
    assert main(["demo", "--n", "6"]) == 0
    out = capsys.readouterr().out
    assert "6x6 grid: 36 unknowns" in out and "scipy.sparse.kron" in out


# ----------------------------------------------------------------------------- solve
def test_solve_subprocess_writes_mtx(spd_files, tmp_path):
    A, b, pa, pb = spd_files
    out = tmp_path / "x.mtx"
    proc = run_cli("solve", pa, "--rhs", pb, "--rtol", "1e-8", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "converged" in proc.stdout and "NOT" not in proc.stdout
    x = np.asarray(scipy.io.mmread(out)).ravel()
    assert x.shape == (144,)
    assert rel_res(A, x, b) <= 1e-8
    np.testing.assert_allclose(x, sp.linalg.spsolve(A.tocsc(), b), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("precond", ["none", "jacobi", "ic0", "ssor", "chebyshev"])
def test_solve_npy_out_precond_dtype(spd_files, tmp_path, capsys, precond, dtype, rtol):
    if precond != "none" and precond not in lrsolve.precond.available():
        pytest.skip(f"{precond} is not available yet")
    A, b, pa, pb = spd_files
    out = tmp_path / "x.npy"
    args = ["solve", pa, "--rhs", pb, "--precond", precond, "--rtol", str(rtol),
            "--dtype", dtype, "--out", str(out), "--no-progress"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"{dtype}" in text
    x = np.load(out)
    assert x.dtype == np.dtype(dtype)
    assert rel_res(A, x, b) <= rtol * 1.5  # recomputed in double from the rounded x


def test_solve_default_rhs_is_ones_and_integer_matrix(tmp_path, capsys):
    A = (poisson2d(5) * 1).astype(np.int64)
    p = tmp_path / "int.mtx"
    scipy.io.mmwrite(p, A.tocoo())
    assert "integer" in p.read_text().splitlines()[0]
    out = tmp_path / "x.mtx"
    assert main(["solve", str(p), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ones(25) (no --rhs given)" in text
    assert "float64" in text
    x = np.asarray(scipy.io.mmread(out)).ravel()
    assert rel_res(A, x, np.ones(25)) <= 1e-8


def test_solve_not_converged_exit_1(spd_files, capsys):
    _, _, pa, pb = spd_files
    assert main(["solve", pa, "--rhs", pb, "--maxiter", "2"]) == 1
    assert "NOT converged" in capsys.readouterr().out


def test_solve_atol_only(spd_files, tmp_path, capsys):
    A, b, pa, pb = spd_files
    out = tmp_path / "x.npy"
    assert main(["solve", pa, "--rhs", pb, "--rtol", "0", "--atol", "1e-6",
                 "--out", str(out)]) == 0
    x = np.load(out)
    assert np.linalg.norm(b - A @ x) <= 1e-6


def test_solve_progress_bar(spd_files, tmp_path):
    pytest.importorskip("tqdm")
    _, _, pa, pb = spd_files
    proc = run_cli("solve", pa, "--rhs", pb, "--progress")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"cg: \d+ it", proc.stderr), proc.stderr


@pytest.mark.gpu
def test_solve_cupy_backend(spd_files, tmp_path, capsys):
    if not lrsolve.cupy_available():
        pytest.skip("needs CuPy and a CUDA device")
    A, b, pa, pb = spd_files
    out = tmp_path / "x.npy"
    assert main(["solve", pa, "--rhs", pb, "--backend", "cupy", "--precond", "jacobi",
                 "--out", str(out)]) == 0
    assert "backend cupy" in capsys.readouterr().out
    assert rel_res(A, np.load(out), b) <= 1e-8


# ----------------------------------------------------------------------------- info
def test_info_subprocess():
    proc = run_cli("info")
    assert proc.returncode == 0, proc.stderr
    assert f"lrsolve {lrsolve.__version__}" in proc.stdout
    assert "engines:" in proc.stdout
    assert "jacobi" in proc.stdout.splitlines()[-1]


# ----------------------------------------------------------------------------- errors
def test_missing_file_subprocess(tmp_path):
    proc = run_cli("solve", str(tmp_path / "nope.mtx"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "nope.mtx" in proc.stderr


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, pa, pb: ["solve", str(d / "rect.mtx")], "square"),
        (lambda d, pa, pb: ["solve", pa, "--precond", "magic"], "unknown preconditioner"),
        (lambda d, pa, pb: ["solve", pa, "--rhs", str(d / "short.mtx")], "length 144"),
        (lambda d, pa, pb: ["solve", pa, "--rhs", str(d / "missing.mtx")], "does not exist"),
        (lambda d, pa, pb: ["solve", str(d / "garbage.mtx")], "Matrix Market"),
        (lambda d, pa, pb: ["solve", pa, "--out", str(d / "no" / "x.mtx")], "does not exist"),
        (lambda d, pa, pb: ["solve", str(d)], "directory"),
    ],
    ids=["non-square", "bad-precond", "rhs-length", "rhs-missing", "garbage", "out-dir", "dir"],
)
def test_error_paths(spd_files, tmp_path, capsys, make_args, message):
    _, _, pa, pb = spd_files
    scipy.io.mmwrite(tmp_path / "rect.mtx", sp.random(5, 4, density=0.5, random_state=0))
    scipy.io.mmwrite(tmp_path / "short.mtx", np.ones((10, 1)))
    (tmp_path / "garbage.mtx").write_text("this is not a matrix\n1 2 3\n")
    assert main(make_args(tmp_path, pa, pb)) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err, err


def test_cupy_backend_without_cupy_is_exit_2(spd_files, capsys):
    if lrsolve.cupy_available():
        pytest.skip("CuPy is available here")
    _, _, pa, _ = spd_files
    assert main(["solve", pa, "--backend", "cupy"]) == 2
    assert "CuPy" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["solve", "A.mtx", "--rtol", "-1"], ["solve", "A.mtx", "--maxiter", "0"],
     ["solve", "A.mtx", "--backend", "torch"], ["demo", "--n", "zero"], ["frobnicate"]],
    ids=["negative-rtol", "zero-maxiter", "bad-backend", "bad-n", "bad-command"],
)
def test_bad_options_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_no_command_prints_help_exit_2(capsys):
    assert main([]) == 2
    assert "usage: lrsolve" in capsys.readouterr().out


def test_bad_option_subprocess():
    proc = run_cli("solve", "A.mtx", "--rtol", "abc")
    assert proc.returncode == 2
    assert "--rtol" in proc.stderr and "abc" in proc.stderr


# ----------------------------------------------------------------------------- options
def test_precond_options(tmp_path, capsys):
    # Kershaw's matrix: SPD, but IC(0) meets a negative pivot
    K = np.array([[3.0, -2, 0, 2], [-2, 3, -2, 0], [0, -2, 3, -2], [2, 0, -2, 3]])
    p = tmp_path / "kershaw.mtx"
    scipy.io.mmwrite(p, sp.coo_matrix(K))
    assert main(["solve", str(p), "--precond", "ic0", "-O", "shift=0"]) == 2
    assert "broke down" in capsys.readouterr().err
    code = main(["solve", str(p), "--precond", "ic0"])  # the default shift may be 0 or "auto"
    if code == 2:
        assert "--precond-option shift=auto" in capsys.readouterr().err
    else:
        assert code == 0
        capsys.readouterr()
    out = tmp_path / "x.npy"
    assert main(["solve", str(p), "--precond", "ic0", "-O", "shift=auto",
                 "--out", str(out)]) == 0
    assert "ic0 shift=auto" in capsys.readouterr().out
    np.testing.assert_allclose(K @ np.load(out), np.ones(4), rtol=1e-8, atol=1e-8)


def test_precond_option_values_and_errors(spd_files, tmp_path, capsys):
    A, b, pa, pb = spd_files
    out = tmp_path / "x.npy"
    assert main(["solve", pa, "--rhs", pb, "--precond", "ssor", "-O", "omega=1.5",
                 "--out", str(out)]) == 0
    assert "ssor omega=1.5" in capsys.readouterr().out
    assert rel_res(A, np.load(out), b) <= 1e-8
    assert main(["solve", pa, "--precond", "ssor", "-O", "omega=2.5"]) == 2
    assert "omega" in capsys.readouterr().err
    assert main(["solve", pa, "-O", "omega=1.5"]) == 2
    assert "--precond-option needs --precond" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["solve", pa, "--precond", "ssor", "-O", "omega"])
    assert exc.value.code == 2


def test_solve_matrix_with_nan_exits_2(tmp_path, capsys):
    A = sp.diags([1.0, 2.0, np.nan], format="coo")
    p = tmp_path / "nan.mtx"
    scipy.io.mmwrite(p, A)
    assert main(["solve", str(p)]) == 2
    assert "NaN" in capsys.readouterr().err
