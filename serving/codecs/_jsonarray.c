/* Optional native parser for the REST fast path (serving/codecs/json_numeric.py).
 *
 * parse(region) reads one JSON array of numbers, e.g. a client-resized image
 * "[[[[147.0, 149.25, 102.0], ...]]]", and returns (shape, data): the dense shape as a tuple
 * and every number as a float64 in C order (bytes, for numpy.frombuffer). It returns None for
 * anything it does not take (ragged or empty arrays, rank over 63, a non-number, a value that
 * is not finite, a token over 400 bytes), and the caller then runs the Python path, which
 * decides what such a body means. Whatever it accepts is valid JSON, and each value equals
 * what orjson followed by float() gives:
 *
 * - numbers follow the JSON grammar exactly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * - the value is the correctly rounded double: with at most 15 significant digits and a
 *   decimal exponent within +-22, one IEEE multiplication or division of two exact doubles
 *   (Clinger's fast path); otherwise CPython's own correctly rounded PyOS_string_to_double;
 * - an integer literal "-0" gives +0.0, as orjson returns the int 0 for it.
 *
 * The scan runs without the GIL (other threads keep running); the slow path takes it back
 * for its one call. The slow path costs ~30x the fast one, so after SLOW_TOKENS such numbers (e.g. a body of
 * 17-digit float64 reprs) it gives up and the Python route, whose cost does not depend on
 * the digits, takes the body.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_RANK 63
#define MAX_TOKEN 400
#define SLOW_TOKENS 32

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    const char *p, *end;
    int rank; /* number of dimensions; 0 until the first number fixes it */
    int slow_left; /* slow-path numbers still allowed */
    Py_ssize_t dims[MAX_RANK];
    double *out;
    Py_ssize_t count, capacity;
} State;

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

static inline void skip_ws(State *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Slow path: CPython's correctly rounded conversion of the token [start, stop). */
static int slow_value(const char *start, const char *stop, double *value) {
    char buf[MAX_TOKEN + 1];
    Py_ssize_t len = stop - start;
    char *endp = NULL;
    int ok;
    PyGILState_STATE gil;
    if (len > MAX_TOKEN) return -1;
    memcpy(buf, start, (size_t)len);
    buf[len] = '\0';
    gil = PyGILState_Ensure(); /* the scan runs without the GIL; CPython's parser needs it */
    *value = PyOS_string_to_double(buf, &endp, NULL);
    ok = !(*value == -1.0 && PyErr_Occurred());
    if (!ok) PyErr_Clear();
    PyGILState_Release(gil);
    return ok && endp == buf + len ? 0 : -1;
}

/* One JSON number at s->p; appends its value. 0 on success, -1 when not taken. */
static int parse_number(State *s) {
    const char *start = s->p, *q = s->p, *end = s->end;
    int negative = 0, digits = 0, is_integer = 1;
    uint64_t mantissa = 0;
    long exponent = 0;
    double value;
    if (q < end && *q == '-') {
        negative = 1;
        q++;
    }
    if (q >= end || !is_digit(*q)) return -1;
    if (*q == '0') {
        q++;
    } else {
        while (q < end && is_digit(*q)) {
            if (digits < 19) mantissa = mantissa * 10 + (uint64_t)(*q - '0');
            else exponent++; /* digits past 19 only scale (slow path below anyway) */
            digits++;
            q++;
        }
    }
    if (q < end && *q == '.') {
        is_integer = 0;
        q++;
        if (q >= end || !is_digit(*q)) return -1;
        while (q < end && is_digit(*q)) {
            if (mantissa == 0 && *q == '0') {
                exponent--; /* leading zeros of the fraction are not significant */
            } else if (digits < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*q - '0');
                exponent--;
                digits++;
            } else {
                digits++;
            }
            q++;
        }
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        long explicit = 0;
        int sign = 1, exp_digits = 0;
        is_integer = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) {
            sign = *q == '-' ? -1 : 1;
            q++;
        }
        if (q >= end || !is_digit(*q)) return -1;
        while (q < end && is_digit(*q)) {
            if (exp_digits < 6) explicit = explicit * 10 + (*q - '0');
            exp_digits++;
            q++;
        }
        if (exp_digits >= 6) digits = 99; /* force the slow path */
        exponent += sign * explicit;
    }
    if (mantissa == 0 && digits <= 19) {
        value = (negative && !is_integer) ? -0.0 : 0.0;
    } else if (digits <= 15 && exponent >= -22 && exponent <= 22) {
        value = (double)mantissa;
        value = exponent < 0 ? value / POW10[-exponent] : value * POW10[exponent];
        if (negative) value = -value;
    } else if (s->slow_left-- <= 0 || slow_value(start, q, &value) != 0) {
        return -1;
    }
    if (!isfinite(value)) return -1; /* orjson rejects it; the Python path reports that */
    if (s->count >= s->capacity) return -1;
    s->out[s->count++] = value;
    s->p = q;
    return 0;
}

/* One array at s->p, nested ``depth`` levels deep (the outermost is 0). */
static int parse_array(State *s, int depth) {
    Py_ssize_t length = 0;
    if (depth >= MAX_RANK) return -1;
    s->p++; /* '[' */
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end) return -1;
        if (*s->p == '[') {
            if (s->rank && depth + 1 >= s->rank) return -1; /* a list where numbers are */
            if (parse_array(s, depth + 1) != 0) return -1;
        } else {
            if (!s->rank) s->rank = depth + 1;
            else if (s->rank != depth + 1) return -1; /* a number where lists are */
            if (parse_number(s) != 0) return -1;
        }
        length++;
        skip_ws(s);
        if (s->p >= s->end) return -1;
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p != ']') return -1;
        s->p++;
        break;
    }
    if (s->dims[depth] == 0) s->dims[depth] = length;
    else if (s->dims[depth] != length) return -1; /* ragged */
    return 0;
}

static PyObject *parse(PyObject *module, PyObject *arg) {
    Py_buffer view;
    State s;
    PyObject *data = NULL, *shape = NULL, *result = Py_None;
    int ok;
    (void)module;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) != 0) return NULL;
    memset(&s, 0, sizeof(s));
    s.slow_left = SLOW_TOKENS;
    s.p = (const char *)view.buf;
    s.end = s.p + view.len;
    s.capacity = view.len / 2 + 1; /* a number and its separator take 2 bytes at least */
    data = PyBytes_FromStringAndSize(NULL, s.capacity * (Py_ssize_t)sizeof(double));
    if (data == NULL) goto done;
    s.out = (double *)PyBytes_AS_STRING(data);
    Py_BEGIN_ALLOW_THREADS /* other threads (inference) run while the text is scanned */
    skip_ws(&s);
    ok = s.p < s.end && *s.p == '[' && parse_array(&s, 0) == 0;
    skip_ws(&s);
    ok = ok && s.p == s.end;
    Py_END_ALLOW_THREADS
    if (!ok) goto none;
    if (_PyBytes_Resize(&data, s.count * (Py_ssize_t)sizeof(double)) != 0) goto done;
    shape = PyTuple_New(s.rank);
    if (shape == NULL) goto done;
    for (int i = 0; i < s.rank; i++) {
        PyObject *dim = PyLong_FromSsize_t(s.dims[i]);
        if (dim == NULL) goto done;
        PyTuple_SET_ITEM(shape, i, dim);
    }
    result = PyTuple_Pack(2, shape, data);
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(shape);
    Py_XDECREF(data);
    PyBuffer_Release(&view);
    return result == Py_None && PyErr_Occurred() ? NULL : result;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_O,
     "parse(region) -> (shape, float64 bytes) for a dense JSON array of numbers, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jsonarray",
    "Native JSON number-array parser for the REST fast path (optional).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jsonarray(void) { return PyModule_Create(&module); }
