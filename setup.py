"""Build hook: the optional native JSON array parser (``serving/codecs/_jsonarray.c``).

Everything else is declared in ``pyproject.toml``. The extension is optional: where no C
compiler is available the install still succeeds and the REST fast path runs in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "serving.codecs._jsonarray",
            ["serving/codecs/_jsonarray.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
