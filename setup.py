"""Builds conformer_kernels._C against the torch already installed (pip --no-build-isolation).

CUDA: CONFORMER_KERNELS_CUDA=1 compiles every csrc/**/*.cu with nvcc (sm_80, sm_90) and links it in;
=0 builds CPU only; unset builds CUDA exactly when the installed torch was built with CUDA and nvcc
is found. torch.cuda.is_available() is never consulted: a GPU is not needed to build for one.
"""
import glob
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from setuptools import find_packages, setup

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError as exc:  # pip's isolated build environment, or no torch yet
    raise SystemExit(
        "conformer_kernels builds against the installed torch: run `pip install torch==2.13.0` "
        "first, then `pip install --no-build-isolation -e .`"
    ) from exc

ROOT = os.path.dirname(os.path.abspath(__file__))
CUDA_ARCHS = ("80", "90")


def want_cuda():
    flag = os.environ.get("CONFORMER_KERNELS_CUDA", "").strip()
    if flag not in ("", "0", "1"):
        raise SystemExit(f"CONFORMER_KERNELS_CUDA must be 0, 1 or unset, got {flag!r}")
    nvcc = shutil.which("nvcc")
    if flag == "1" and nvcc is None:
        raise SystemExit("CONFORMER_KERNELS_CUDA=1 but nvcc is not on PATH")
    if flag == "":
        return torch.version.cuda is not None and nvcc is not None
    return flag == "1"


class BuildWithNvcc(BuildExtension):
    """Compiles the torch-free .cu files with nvcc and links their objects into the extension."""

    def build_extensions(self):
        if want_cuda():
            nvcc = shutil.which("nvcc")
            cuda_home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
            sources = sorted(glob.glob("csrc/**/*.cu", recursive=True))
            jobs = max(1, int(os.environ.get("MAX_JOBS") or os.cpu_count() or 1))
            with ThreadPoolExecutor(jobs) as pool:  # nvcc runs are independent: one per core
                objects = list(pool.map(lambda src: self._nvcc(nvcc, src), sources))
            for ext in self.extensions:
                ext.extra_objects += objects
                ext.define_macros.append(("CK_WITH_CUDA", "1"))
                ext.library_dirs.append(os.path.join(cuda_home, "lib64"))
                ext.runtime_library_dirs.append(os.path.join(cuda_home, "lib64"))
                ext.libraries.append("cudart")
        super().build_extensions()

    def _nvcc(self, nvcc, src):
        out = os.path.join(self.build_temp, "cuda", os.path.relpath(src, "csrc") + ".o")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in CUDA_ARCHS]
        cmd = [nvcc, "-std=c++17", "-O3", "-Xcompiler", "-fPIC", *gencode, "-c", src, "-o", out]
        print(" ".join(cmd))
        subprocess.check_call(cmd)
        return out


sources = sorted(glob.glob("csrc/**/*_cpu.cpp", recursive=True)) + sorted(glob.glob("csrc/bindings/*.cpp"))

setup(
    name="conformers",
    version="0.1.0",
    description="Deep-learning molecular conformer generation (ConfOpt, DMCG, ConfGF, ConfVAE) "
    "with the conformer_kernels C++/CUDA alignment and RMSD library",
    python_requires=">=3.10",
    packages=find_packages(include=["conformer_kernels", "conformer_kernels.*"])
    + find_packages("python", include=["conformers", "conformers.*"]),
    package_dir={"conformers": "python/conformers"},
    package_data={"conformers.models": ["checkpoints/*.pt", "checkpoints/*.json"]},
    ext_modules=[
        CppExtension(
            "conformer_kernels._C",
            sources,
            extra_compile_args=["-O3", "-fopenmp", "-std=c++17"],
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": BuildWithNvcc},
    # torch: the range the extension is built and tested against (2.13.0 here and in CI, 2.11 on the
    # GPU machines of benchmarks/gpu_check.sh); it compiles against whichever is installed
    install_requires=["torch>=2.11,<2.14", "numpy", "scipy", "rdkit", "tqdm", "pyyaml", "matplotlib", "torchdiffeq"],
    extras_require={"test": ["pytest", "hypothesis", "pytest-benchmark", "networkx"], "xtb": ["tblite"], "qm9": ["qm9pack==1.0.3"]},
    entry_points={"console_scripts": ["conformers=conformers.cli.main:main"]},
)
