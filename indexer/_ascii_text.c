/* indexer._ascii_text: the canonical-text and skeleton steps of the fingerprint, for
 * ASCII text, in C.
 *
 * Most live prompts are ASCII (88% of the bench stream). For them the regex steps of
 * indexer/normalize.py and indexer/skeleton.py cost ~100 us a prompt, mostly in
 * patterns that sre tries at every position (the number mask, the identifier masks).
 * This module reproduces those steps bit for bit on ASCII input, where the regexes'
 * Unicode classes reduce to simple byte tests:
 *
 *   \w  = [A-Za-z0-9_]      \d = [0-9]
 *   \s  = str.isspace       = 0x09-0x0D, 0x1C-0x1F, 0x20
 *   re.I on [a-f], [a-z]    = both cases
 *   NFKC, homoglyph folding and format-character removal are the identity on ASCII;
 *   casefold() is lower().
 *
 * The Python functions stay the definition and run for every other text; each function
 * here follows one of them, step by step, including the order in which sre backtracks
 * (which decides where a match ends). tests/test_normalize.py and tests/test_skeleton.py
 * compare the two on every real prompt of ../shared/data and on generated text.
 *
 * Every function takes an ASCII str (TypeError/ValueError otherwise) and returns a str.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* -- character classes ------------------------------------------------------------- */

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static inline int is_word(unsigned char c) { return is_digit(c) || is_alpha(c) || c == '_'; }
static inline int is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static inline int is_hex_letter(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'f'; }
static inline int is_space(unsigned char c) { return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20); }
static inline int is_word_or_hyphen(unsigned char c) { return is_word(c) || c == '-'; }

/* \w at index i, with the string's ends counting as non-word (as \b sees them). */
static inline int word_at(const char *s, Py_ssize_t n, Py_ssize_t i) {
    return i >= 0 && i < n && is_word((unsigned char)s[i]);
}

static inline int boundary(const char *s, Py_ssize_t n, Py_ssize_t i) {
    return word_at(s, n, i - 1) != word_at(s, n, i);
}

static int has_digit(const char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (is_digit((unsigned char)s[i])) return 1;
    return 0;
}

static int contains(const char *s, Py_ssize_t n, const char *needle) {
    Py_ssize_t m = (Py_ssize_t)strlen(needle);
    for (Py_ssize_t i = 0; i + m <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, (size_t)m) == 0) return 1;
    return 0;
}

/* -- a growable output buffer ------------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int buf_init(Buf *b, Py_ssize_t cap) {
    b->len = 0;
    b->cap = cap < 64 ? 64 : cap;
    b->data = PyMem_Malloc((size_t)b->cap);
    if (!b->data) { PyErr_NoMemory(); return -1; }
    return 0;
}

static int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (b->len + n > b->cap) {
        Py_ssize_t cap = b->cap;
        while (b->len + n > cap) cap *= 2;
        char *data = PyMem_Realloc(b->data, (size_t)cap);
        if (!data) { PyErr_NoMemory(); return -1; }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static inline int buf_putc(Buf *b, char c) {
    if (b->len < b->cap) { b->data[b->len++] = c; return 0; }
    return buf_put(b, &c, 1);
}

static void buf_free(Buf *b) { PyMem_Free(b->data); b->data = NULL; }

static PyObject *ascii_str(const char *s, Py_ssize_t n) {
    PyObject *out = PyUnicode_New(n, 127);
    if (out) memcpy(PyUnicode_1BYTE_DATA(out), s, (size_t)n);
    return out;
}

/* The argument as (bytes, length); NULL with an exception unless it is an ASCII str. */
static const char *ascii_arg(PyObject *arg, Py_ssize_t *n) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg)) {
        PyErr_SetString(PyExc_ValueError, "expected an ASCII str (other text takes the Python path)");
        return NULL;
    }
    *n = PyUnicode_GET_LENGTH(arg);
    return (const char *)PyUnicode_1BYTE_DATA(arg);
}

/* One substitution pass: like re.sub, it scans the input left to right; at each position
 * `match` returns the end of a match starting there (the replacement is written and the
 * scan resumes at that end) or -1 (the character is copied). Matches are judged on the
 * input, never on what was already written. */
typedef Py_ssize_t (*match_fn)(const char *s, Py_ssize_t n, Py_ssize_t p);

static int sub_pass(const char *s, Py_ssize_t n, match_fn match, const char *repl, Buf *out) {
    Py_ssize_t repl_len = (Py_ssize_t)strlen(repl), p = 0, copied = 0;
    out->len = 0;
    while (p < n) {
        Py_ssize_t end = match(s, n, p);
        if (end < 0) { p++; continue; }
        if (buf_put(out, s + copied, p - copied) < 0 || buf_put(out, repl, repl_len) < 0) return -1;
        p = copied = end;
    }
    return buf_put(out, s + copied, n - copied);
}

/* -- normalize.normalize --------------------------------------------------------------- */

/* NFKC, invisible-character removal and homoglyph folding do nothing to ASCII; the
 * controls that are not whitespace (0x00-0x08, 0x0E-0x1B, 0x7F) become spaces, and
 * " ".join(text.split()).casefold() then splits on every byte <= 0x20 and on 0x7F. */
static PyObject *normalize(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    const char *s = ascii_arg(arg, &n);
    if (!s) return NULL;
    Buf out;
    if (buf_init(&out, n) < 0) return NULL;
    int gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f) { gap = 1; continue; }
        if (gap && out.len) out.data[out.len++] = ' ';
        gap = 0;
        out.data[out.len++] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    PyObject *result = ascii_str(out.data, out.len);
    buf_free(&out);
    return result;
}

/* -- normalize.mask_identifiers (all but the leading-tag strip, which stays in Python) - */

/* _UUID: \b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b, re.I */
static Py_ssize_t match_uuid(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (n - p < 36 || word_at(s, n, p - 1)) return -1;
    for (Py_ssize_t k = 0; k < 36; k++) {
        unsigned char c = (unsigned char)s[p + k];
        if (k == 8 || k == 13 || k == 18 || k == 23) {
            if (c != '-') return -1;
        } else if (!is_hex(c)) {
            return -1;
        }
    }
    return word_at(s, n, p + 36) ? -1 : p + 36;
}

/* _HEX: \b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b, re.I. The run of hex digits is
 * taken whole (a shorter one would end between two word characters, never at \b); both
 * lookaheads look inside that run. */
static Py_ssize_t match_hex(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (!is_hex((unsigned char)s[p]) || word_at(s, n, p - 1)) return -1;
    Py_ssize_t e = p;
    int digit = 0, letter = 0;
    while (e < n && is_hex((unsigned char)s[e])) {
        digit |= is_digit((unsigned char)s[e]);
        letter |= is_hex_letter((unsigned char)s[e]);
        e++;
    }
    if (e - p < 8 || !digit || !letter || word_at(s, n, e)) return -1;
    return e;
}

/* _ALNUM_ID: \b(?=\w*\d)(?=\w*[a-z])[a-z0-9_-]{10,}\b, re.I. The lookaheads look inside
 * the word run that starts at p; the body takes the whole [\w-] run and, as sre does,
 * gives back characters until it ends at a word boundary, no shorter than 10. */
static Py_ssize_t match_alnum_id(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (!is_word((unsigned char)s[p]) || word_at(s, n, p - 1)) return -1;
    Py_ssize_t w = p;
    int digit = 0, letter = 0;
    while (w < n && is_word((unsigned char)s[w])) {
        digit |= is_digit((unsigned char)s[w]);
        letter |= is_alpha((unsigned char)s[w]);
        w++;
    }
    if (!digit || !letter) return -1;
    Py_ssize_t r = w;
    while (r < n && is_word_or_hyphen((unsigned char)s[r])) r++;
    for (Py_ssize_t e = r; e >= p + 10; e--)
        if (boundary(s, n, e)) return e;
    return -1;
}

/* _has_long_run_with_digit: a run of [\w-] that holds a digit and is at least 8 long. */
static int has_long_run_with_digit(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (!is_word_or_hyphen((unsigned char)s[i])) { i++; continue; }
        Py_ssize_t start = i;
        int digit = 0;
        while (i < n && is_word_or_hyphen((unsigned char)s[i])) digit |= is_digit((unsigned char)s[i++]);
        if (digit && i - start >= 8) return 1;
    }
    return 0;
}

static PyObject *mask_identifiers(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    const char *s = ascii_arg(arg, &n);
    if (!s) return NULL;
    if (!has_digit(s, n)) return Py_NewRef(arg);  /* every identifier pattern needs a digit */
    Buf a, b;
    if (buf_init(&a, n) < 0) return NULL;
    if (buf_init(&b, n) < 0) { buf_free(&a); return NULL; }
    PyObject *result = NULL;
    const char *cur = s;
    Py_ssize_t len = n;
    Buf *next = &a, *spare = &b, *t;
    if (memchr(s, '-', (size_t)n)) {
        if (sub_pass(cur, len, match_uuid, "<id>", next) < 0) goto done;
        cur = next->data, len = next->len;
        t = next, next = spare, spare = t;
    }
    if (has_long_run_with_digit(cur, len)) {
        if (sub_pass(cur, len, match_hex, "<id>", next) < 0) goto done;
        cur = next->data, len = next->len;
        t = next, next = spare, spare = t;
        if (sub_pass(cur, len, match_alnum_id, "<id>", next) < 0) goto done;
        cur = next->data, len = next->len;
    }
    result = cur == s ? Py_NewRef(arg) : ascii_str(cur, len);
done:
    buf_free(&a);
    buf_free(&b);
    return result;
}

/* -- skeleton.skeleton -------------------------------------------------------------------- */

/* _CODE: ```.*?(?:```|$), re.S. The lazy body stops at the first closing fence or at $
 * (the end, or just before a newline that ends the text). */
static Py_ssize_t match_code(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (n - p < 3 || memcmp(s + p, "```", 3) != 0) return -1;
    for (Py_ssize_t k = p + 3;; k++) {
        if (n - k >= 3 && memcmp(s + k, "```", 3) == 0) return k + 3;
        if (k == n || (k == n - 1 && s[k] == '\n')) return k;
    }
}

/* _URL: \b(?:https?://|www\.)\S+, re.I */
static Py_ssize_t match_url(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (word_at(s, n, p - 1)) return -1;
    Py_ssize_t q;
    if (n - p >= 4 && (s[p] | 0x20) == 'h' && (s[p + 1] | 0x20) == 't' && (s[p + 2] | 0x20) == 't' &&
        (s[p + 3] | 0x20) == 'p') {
        q = p + 4;
        if (q < n && (s[q] | 0x20) == 's') q++;
        if (n - q < 3 || memcmp(s + q, "://", 3) != 0) return -1;
        q += 3;
    } else if (n - p >= 4 && (s[p] | 0x20) == 'w' && (s[p + 1] | 0x20) == 'w' && (s[p + 2] | 0x20) == 'w' &&
               s[p + 3] == '.') {
        q = p + 4;
    } else {
        return -1;
    }
    Py_ssize_t e = q;
    while (e < n && !is_space((unsigned char)s[e])) e++;
    return e > q ? e : -1;
}

/* _EMAIL: \b[\w.+-]+@[\w-]+\.[\w.-]+\b. The first two runs cannot give anything back
 * (what follows them, '@' and '.', is outside their class), so each must end exactly
 * there; the last run gives back characters until it ends at a word boundary. */
static inline int is_local_part(unsigned char c) { return is_word(c) || c == '.' || c == '+' || c == '-'; }
static inline int is_domain_tail(unsigned char c) { return is_word(c) || c == '.' || c == '-'; }

static Py_ssize_t match_email(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (!is_local_part((unsigned char)s[p]) || !boundary(s, n, p)) return -1;
    Py_ssize_t at = p;
    while (at < n && is_local_part((unsigned char)s[at])) at++;
    if (at >= n || s[at] != '@') return -1;
    Py_ssize_t dot = at + 1;
    while (dot < n && is_word_or_hyphen((unsigned char)s[dot])) dot++;
    if (dot == at + 1 || dot >= n || s[dot] != '.') return -1;
    Py_ssize_t r = dot + 1;
    while (r < n && is_domain_tail((unsigned char)s[r])) r++;
    for (Py_ssize_t e = r; e >= dot + 2; e--)
        if (boundary(s, n, e)) return e;
    return -1;
}

/* _QUOTE: (["“«])[^"”»]{80,}?(["”»]); in ASCII the quotes are all '"', so a match is a
 * '"' whose next '"' comes after at least 80 other characters. */
static Py_ssize_t match_quote(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (s[p] != '"') return -1;
    const char *close = memchr(s + p + 1, '"', (size_t)(n - p - 1));
    if (!close || close - (s + p) - 1 < 80) return -1;
    return close - s + 1;
}

/* _NUMBER: (?<![\w<])[-+]?\$?\d[\d,]*(?:\.\d+)?%?(?![\w>]). The sign and '$' cannot be
 * given back (without them \d would face them); [\d,]* gives back one character at a
 * time, and for each length the fraction then the '%' are tried with and without, in
 * sre's order, until the lookahead holds. */
static inline int number_may_end(const char *s, Py_ssize_t n, Py_ssize_t e) {
    return e == n || (!is_word((unsigned char)s[e]) && s[e] != '>');
}

static Py_ssize_t number_end_after(const char *s, Py_ssize_t n, Py_ssize_t x) {
    if (x < n && s[x] == '%' && number_may_end(s, n, x + 1)) return x + 1;
    return number_may_end(s, n, x) ? x : -1;
}

static Py_ssize_t match_number(const char *s, Py_ssize_t n, Py_ssize_t p) {
    if (p > 0 && (is_word((unsigned char)s[p - 1]) || s[p - 1] == '<')) return -1;
    Py_ssize_t i = p;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    if (i < n && s[i] == '$') i++;
    if (i >= n || !is_digit((unsigned char)s[i])) return -1;
    i++;
    Py_ssize_t j = i;
    while (j < n && (is_digit((unsigned char)s[j]) || s[j] == ',')) j++;
    for (; j >= i; j--) {
        if (j + 1 < n && s[j] == '.' && is_digit((unsigned char)s[j + 1])) {
            Py_ssize_t k = j + 1;
            while (k < n && is_digit((unsigned char)s[k])) k++;
            Py_ssize_t e = number_end_after(s, n, k);
            if (e >= 0) return e;
        }
        Py_ssize_t e = number_end_after(s, n, j);
        if (e >= 0) return e;
    }
    return -1;
}

static PyObject *skeleton(PyObject *self, PyObject *arg) {
    Py_ssize_t n;
    const char *s = ascii_arg(arg, &n);
    if (!s) return NULL;
    Buf a, b;
    if (buf_init(&a, n + n / 4) < 0) return NULL;
    if (buf_init(&b, n + n / 4) < 0) { buf_free(&a); return NULL; }
    PyObject *result = NULL;
    const char *cur = s;
    Py_ssize_t len = n;
    Buf *next = &a, *spare = &b, *t;
#define PASS(match, repl)                                              \
    do {                                                               \
        if (sub_pass(cur, len, match, repl, next) < 0) goto done;      \
        cur = next->data, len = next->len;                             \
        t = next, next = spare, spare = t;                             \
    } while (0)
    /* the same guards as skeleton.skeleton, on the text as each step leaves it */
    if (contains(cur, len, "```")) PASS(match_code, " <code> ");
    if (contains(cur, len, "http") || contains(cur, len, "www.")) PASS(match_url, "<url>");
    if (memchr(cur, '@', (size_t)len)) PASS(match_email, "<email>");
    PASS(match_quote, "<quote>");
    if (has_digit(cur, len)) PASS(match_number, "<num>");
#undef PASS
    result = ascii_str(cur, len);
done:
    buf_free(&a);
    buf_free(&b);
    return result;
}

static PyMethodDef methods[] = {
    {"normalize", normalize, METH_O, "normalize.normalize of an ASCII str."},
    {"mask_identifiers", mask_identifiers, METH_O,
     "normalize.mask_identifiers of an ASCII str, up to the leading-tag strip (_ID_PREFIX)."},
    {"skeleton", skeleton, METH_O, "skeleton.skeleton of an ASCII str."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ascii_text",
                                    "The ASCII fast path of the canonical-text and skeleton steps.", -1, methods};

PyMODINIT_FUNC PyInit__ascii_text(void) { return PyModule_Create(&module); }
