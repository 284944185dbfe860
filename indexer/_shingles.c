/* Word tokens and shingle hashes of a prompt skeleton, in one pass over its characters.
 *
 * Why C: at fingerprint-tier ingest and on every CheckPrompt, tokenizing the skeleton
 * (a regex findall) and hashing its word 3-grams (a join, an encode, crc32 and adler32
 * per gram) cost ~80 us of Python per prompt under the GIL, a third of the signature.
 * This does the same in ~5 us and creates no token strings.
 *
 * The output is bit-for-bit the one of the Python definition it replaces (kept as the
 * test oracle in tests/test_shingles.py), so stored signatures stay valid:
 *
 *   tokens  = re.findall(r"<\w+>|\w+", skeleton)        # \w as Python's re: str.isalnum() or "_"
 *   gram    = " ".join(three consecutive tokens)        # of the head and tail parts
 *   hash    = (zlib.crc32(gram_utf8) << 32) | zlib.adler32(gram_utf8)
 *   anchors = hash("\x02" + " ".join(tokens[:n])), hash("\x03" + " ".join(tokens[-n:]))
 *
 * crc32 and adler32 are zlib's (same polynomial, same start values), written out here so
 * the build needs nothing but the Python headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

typedef struct {
    uint32_t crc; /* running, pre-inverted */
    uint32_t a, b; /* adler32 halves */
} Hasher;

static inline void hasher_start(Hasher *h) {
    h->crc = 0xFFFFFFFFu;
    h->a = 1;
    h->b = 0;
}

static inline void hasher_update(Hasher *h, const unsigned char *p, Py_ssize_t n) {
    uint32_t crc = h->crc, a = h->a, b = h->b;
    for (Py_ssize_t i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
        a += p[i];
        if (a >= 65521u) a -= 65521u;
        b += a;
        if (b >= 65521u) b -= 65521u;
    }
    h->crc = crc;
    h->a = a;
    h->b = b;
}

static inline uint64_t hasher_value(const Hasher *h) {
    uint32_t crc = ~h->crc;
    return ((uint64_t)crc << 32) | ((uint64_t)h->b << 16) | h->a;
}

/* Python's re \w for str patterns: alphanumeric (Py_UNICODE_ISALNUM) or underscore. */
static inline int is_word(Py_UCS4 ch) { return ch == '_' || Py_UNICODE_ISALNUM(ch); }

static inline Py_ssize_t utf8_put(unsigned char *out, Py_UCS4 ch) {
    if (ch < 0x80) {
        out[0] = (unsigned char)ch;
        return 1;
    }
    if (ch < 0x800) {
        out[0] = (unsigned char)(0xC0 | (ch >> 6));
        out[1] = (unsigned char)(0x80 | (ch & 0x3F));
        return 2;
    }
    if (ch < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (ch >> 12));
        out[1] = (unsigned char)(0x80 | ((ch >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (ch & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (ch >> 18));
    out[1] = (unsigned char)(0x80 | ((ch >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((ch >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (ch & 0x3F));
    return 4;
}

/* The tokens of a skeleton: their UTF-8 bytes back to back in `bytes`, token i spanning
 * [start[i], start[i] + len[i]). Caller frees with tokens_free. */
typedef struct {
    unsigned char *bytes;
    Py_ssize_t *start;
    Py_ssize_t *len;
    Py_ssize_t count;
} Tokens;

static void tokens_free(Tokens *t) {
    PyMem_Free(t->bytes);
    PyMem_Free(t->start);
    PyMem_Free(t->len);
}

static int tokenize(PyObject *text, Tokens *out) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    /* at most n tokens (each takes a character) and 4 bytes per character */
    out->bytes = PyMem_Malloc((size_t)(n > 0 ? n : 1) * 4);
    out->start = PyMem_Malloc(sizeof(Py_ssize_t) * ((size_t)n + 1));
    out->len = PyMem_Malloc(sizeof(Py_ssize_t) * ((size_t)n + 1));
    out->count = 0;
    if (!out->bytes || !out->start || !out->len) {
        tokens_free(out);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t used = 0, i = 0;
    while (i < n) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        Py_ssize_t first = -1, last = -1; /* token characters [first, last) */
        if (ch == '<') {
            Py_ssize_t j = i + 1;
            while (j < n && is_word(PyUnicode_READ(kind, data, j))) j++;
            if (j > i + 1 && j < n && PyUnicode_READ(kind, data, j) == '>') {
                first = i;
                last = j + 1; /* "<word>" */
            }
        } else if (is_word(ch)) {
            Py_ssize_t j = i + 1;
            while (j < n && is_word(PyUnicode_READ(kind, data, j))) j++;
            first = i;
            last = j;
        }
        if (first < 0) {
            i++;
            continue;
        }
        out->start[out->count] = used;
        for (Py_ssize_t k = first; k < last; k++) used += utf8_put(out->bytes + used, PyUnicode_READ(kind, data, k));
        out->len[out->count] = used - out->start[out->count];
        out->count++;
        i = last;
    }
    return 0;
}

/* Hash of `prefix` (0: none) followed by tokens [from, to) joined by single spaces. */
static uint64_t hash_run(const Tokens *t, Py_ssize_t from, Py_ssize_t to, unsigned char prefix) {
    static const unsigned char space = ' ';
    Hasher h;
    hasher_start(&h);
    if (prefix) hasher_update(&h, &prefix, 1);
    for (Py_ssize_t k = from; k < to; k++) {
        if (k > from) hasher_update(&h, &space, 1);
        hasher_update(&h, t->bytes + t->start[k], t->len[k]);
    }
    return hasher_value(&h);
}

static int add_hash(PyObject *set, uint64_t value) {
    PyObject *v = PyLong_FromUnsignedLongLong(value);
    if (v == NULL) return -1;
    int rc = PySet_Add(set, v);
    Py_DECREF(v);
    return rc;
}

static int add_grams(PyObject *set, const Tokens *t, Py_ssize_t from, Py_ssize_t to, Py_ssize_t words) {
    for (Py_ssize_t i = from; i + words <= to; i++) {
        if (add_hash(set, hash_run(t, i, i + words, 0)) < 0) return -1;
    }
    return 0;
}

PyDoc_STRVAR(signature_doc,
"signature(skeleton, shingle_words, head_tokens, tail_tokens, anchor_tokens)\n"
"-> (frozenset of 64-bit shingle hashes, head anchor, tail anchor)\n\n"
"Hashed word n-grams of the first head_tokens and last tail_tokens tokens of a skeleton\n"
"(all of them when there are no more than head_tokens + tail_tokens), plus the two\n"
"anchors when there are more than anchor_tokens + 1 tokens (else both are 0).");

static PyObject *signature(PyObject *module, PyObject *args) {
    PyObject *text;
    Py_ssize_t words, head_tokens, tail_tokens, anchor_tokens;
    if (!PyArg_ParseTuple(args, "Unnnn:signature", &text, &words, &head_tokens, &tail_tokens, &anchor_tokens)) return NULL;
    if (words < 1 || head_tokens < 0 || tail_tokens < 0 || anchor_tokens < 1) {
        PyErr_SetString(PyExc_ValueError, "shingle_words and anchor_tokens must be >= 1, head and tail tokens >= 0");
        return NULL;
    }
    Tokens t;
    if (tokenize(text, &t) < 0) return NULL;
    PyObject *set = PyFrozenSet_New(NULL);
    if (set == NULL) {
        tokens_free(&t);
        return NULL;
    }
    uint64_t head = 0, tail = 0;
    int failed;
    if (t.count > head_tokens + tail_tokens) {
        failed = add_grams(set, &t, 0, head_tokens, words) < 0 || add_grams(set, &t, t.count - tail_tokens, t.count, words) < 0;
    } else {
        failed = add_grams(set, &t, 0, t.count, words) < 0;
    }
    if (!failed && t.count > anchor_tokens + 1) {
        head = hash_run(&t, 0, anchor_tokens, 0x02);
        tail = hash_run(&t, t.count - anchor_tokens, t.count, 0x03);
        failed = add_hash(set, head) < 0 || add_hash(set, tail) < 0;
    }
    tokens_free(&t);
    if (failed) {
        Py_DECREF(set);
        return NULL;
    }
    return Py_BuildValue("(NKK)", set, (unsigned long long)head, (unsigned long long)tail);
}

PyDoc_STRVAR(tokens_doc, "tokens(skeleton) -> list of its word tokens (re.findall(r\"<\\w+>|\\w+\", skeleton))");

static PyObject *tokens(PyObject *module, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "tokens() takes a str");
        return NULL;
    }
    Tokens t;
    if (tokenize(text, &t) < 0) return NULL;
    PyObject *list = PyList_New(t.count);
    for (Py_ssize_t k = 0; list != NULL && k < t.count; k++) {
        PyObject *s = PyUnicode_DecodeUTF8((const char *)t.bytes + t.start[k], t.len[k], "strict");
        if (s == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, k, s);
    }
    tokens_free(&t);
    return list;
}

static PyMethodDef methods[] = {
    {"signature", signature, METH_VARARGS, signature_doc},
    {"tokens", tokens, METH_O, tokens_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "indexer._shingles", "Tokens and shingle hashes of prompt skeletons (see indexer.skeleton).", -1, methods,
};

PyMODINIT_FUNC PyInit__shingles(void) {
    crc_init();
    return PyModule_Create(&module_def);
}
