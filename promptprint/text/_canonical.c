/* promptprint.text._canonical: the canonical-text and skeleton steps of the fingerprint in C.
 *
 * The regexes of promptprint/text/normalize.py and promptprint/text/skeleton.py cost ~100 us on a prompt of
 * 600 characters and ~350 us on one of 1,800, mostly in patterns that sre tries at every
 * position (the number mask, the identifier masks). This module reproduces their output
 * bit for bit, in a few microseconds:
 *
 *   mask_identifiers(text)  normalize.mask_identifiers up to the leading-tag strip, any str
 *   skeleton(text)          skeleton.skeleton, any str
 *   normalize(text)         normalize.normalize, ASCII str only (NFKC, homoglyphs and full
 *                           case folding need Unicode tables that the C API does not offer)
 *   strip_and_collapse(text, format_ranges)
 *                           the rest of normalize.normalize, any str
 *
 * It works on the text's code points with the classes sre uses for str patterns:
 *
 *   \w = Py_UNICODE_ISALNUM or '_'     \d = Py_UNICODE_ISDECIMAL    \s = Py_UNICODE_ISSPACE
 *   re.I: [a-z] also takes U+0130, U+0131, U+017F and U+212A, 's' also U+017F; [0-9a-f],
 *         [a-f], 'h', 't', 'p', 'w' take only their ASCII cases (IGNORECASE_EXTRAS below;
 *         tests/test_canonical_c.py checks it against re over every code point)
 *
 * The Python functions stay the definition (edit both together); each matcher here
 * follows one pattern, including the order in which sre backtracks, which decides where a
 * match ends. tests/test_canonical_c.py compares the two on every real prompt of
 * ../shared/data and on generated text.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_shingle_hash.h"

typedef Py_UCS4 Ch;

/* -- character classes ------------------------------------------------------------- */

static inline int is_digit(Ch c) { return c < 128 ? (c >= '0' && c <= '9') : Py_UNICODE_ISDECIMAL(c); }
static inline int is_word(Ch c) {
    if (c < 128) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
    return Py_UNICODE_ISALNUM(c);
}
static inline int is_space(Ch c) { return c < 128 ? (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) : Py_UNICODE_ISSPACE(c); }
static inline int is_word_or_hyphen(Ch c) { return c == '-' || is_word(c); }
/* [a-z] under re.I */
static inline int is_letter_i(Ch c) {
    return (c < 128 && (c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == 0x130 || c == 0x131 || c == 0x17f || c == 0x212a;
}
/* [a-f] and [0-9a-f] under re.I */
static inline int is_hex_letter_i(Ch c) { return c < 128 && (c | 0x20) >= 'a' && (c | 0x20) <= 'f'; }
static inline int is_hex_i(Ch c) { return (c >= '0' && c <= '9') || is_hex_letter_i(c); }
/* one ASCII letter under re.I ('s' also takes U+017F, the long s) */
static inline int is_letter_i_of(Ch c, char letter) { return (c < 128 && (c | 0x20) == (Ch)letter) || (letter == 's' && c == 0x17f); }

/* \w at index i, with the string's ends counting as non-word (as \b sees them). */
static inline int word_at(const Ch *s, Py_ssize_t n, Py_ssize_t i) { return i >= 0 && i < n && is_word(s[i]); }

static inline int boundary(const Ch *s, Py_ssize_t n, Py_ssize_t i) { return word_at(s, n, i - 1) != word_at(s, n, i); }

static int has_digit(const Ch *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (is_digit(s[i])) return 1;
    return 0;
}

static int has_char(const Ch *s, Py_ssize_t n, Ch c) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] == c) return 1;
    return 0;
}

/* whether the ASCII `needle` occurs in s (case-sensitive, as Python's `in`) */
static int contains(const Ch *s, Py_ssize_t n, const char *needle) {
    Py_ssize_t m = (Py_ssize_t)strlen(needle);
    for (Py_ssize_t i = 0; i + m <= n; i++) {
        Py_ssize_t k = 0;
        while (k < m && s[i + k] == (Ch)(unsigned char)needle[k]) k++;
        if (k == m) return 1;
    }
    return 0;
}

/* -- a growable buffer of code points ------------------------------------------------ */

typedef struct {
    Ch *data;
    Py_ssize_t len, cap;
} Buf;

/* The buffers use PyMem_Raw* and report a failed allocation as -1 without an exception:
 * signatures() runs them with the GIL released. */
static int buf_init(Buf *b, Py_ssize_t cap) {
    b->len = 0;
    b->cap = cap < 64 ? 64 : cap;
    b->data = PyMem_RawMalloc(sizeof(Ch) * (size_t)b->cap);
    return b->data ? 0 : -1;
}

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap;
    while (b->len + extra > cap) cap *= 2;
    Ch *data = PyMem_RawRealloc(b->data, sizeof(Ch) * (size_t)cap);
    if (!data) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const Ch *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, s, sizeof(Ch) * (size_t)n);
    b->len += n;
    return 0;
}

static int buf_put_ascii(Buf *b, const char *s) {
    Py_ssize_t n = (Py_ssize_t)strlen(s);
    if (buf_reserve(b, n) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) b->data[b->len++] = (Ch)(unsigned char)s[i];
    return 0;
}

static void buf_free(Buf *b) { PyMem_RawFree(b->data); b->data = NULL; }

/* One substitution pass: like re.sub, it scans the input left to right; at each position
 * `match` returns the end of a match starting there (the replacement is written and the
 * scan resumes at that end) or -1 (the character is copied). Matches are judged on the
 * input, never on what was already written. */
typedef Py_ssize_t (*match_fn)(const Ch *s, Py_ssize_t n, Py_ssize_t p);

static int sub_pass(const Ch *s, Py_ssize_t n, match_fn match, const char *repl, Buf *out) {
    Py_ssize_t p = 0, copied = 0;
    out->len = 0;
    while (p < n) {
        Py_ssize_t end = match(s, n, p);
        if (end < 0) { p++; continue; }
        if (buf_put(out, s + copied, p - copied) < 0 || buf_put_ascii(out, repl) < 0) return -1;
        p = copied = end;
    }
    return buf_put(out, s + copied, n - copied);
}

/* A chain of substitution passes over a text's code points: each pass reads what the
 * last one wrote (two buffers, in turn). `changed` tells whether any pass ran. Needs no
 * GIL once started; every failure is an allocation (-1, no exception set). */
typedef struct {
    Ch *input; /* the text's code points (owned, PyMem_Raw*) */
    const Ch *cur;
    Py_ssize_t len;
    Buf bufs[2];
    int next, changed;
} Chain;

static void chain_start(Chain *c, Ch *input, Py_ssize_t n) {
    c->input = input;
    c->cur = input;
    c->len = n;
    c->next = 0;
    c->changed = 0;
    c->bufs[0] = c->bufs[1] = (Buf){NULL, 0, 0}; /* allocated by the first pass that writes them */
}

static void chain_free(Chain *c) {
    buf_free(&c->bufs[0]);
    buf_free(&c->bufs[1]);
    PyMem_RawFree(c->input);
    c->input = NULL;
}

/* Starts a chain on a str's code points; -1 with an exception unless it is a str. */
static int chain_open(Chain *c, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    Ch *input = PyMem_RawMalloc(sizeof(Ch) * (size_t)(n ? n : 1));
    if (!input) {
        PyErr_NoMemory();
        return -1;
    }
    if (!PyUnicode_AsUCS4(arg, input, n ? n : 1, 0)) {
        PyMem_RawFree(input);
        return -1;
    }
    chain_start(c, input, n);
    return 0;
}

static int chain_pass(Chain *c, match_fn match, const char *repl) {
    Buf *out = &c->bufs[c->next];
    if (!out->data && buf_init(out, c->len + c->len / 4) < 0) return -1;
    if (sub_pass(c->cur, c->len, match, repl, out) < 0) return -1;
    c->cur = out->data;
    c->len = out->len;
    c->next ^= 1;
    c->changed = 1;
    return 0;
}

/* Frees the chain; returns its text as a str (the argument itself when no pass ran), or
 * NULL with MemoryError when a pass failed. */
static PyObject *chain_close(Chain *c, PyObject *arg, int failed) {
    PyObject *result = NULL;
    if (failed) PyErr_NoMemory();
    else result = c->changed ? PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, c->cur, c->len) : Py_NewRef(arg);
    chain_free(c);
    return result;
}

/* -- normalize.normalize (ASCII) --------------------------------------------------------- */

/* NFKC, format-character removal and homoglyph folding do nothing to ASCII; the
 * controls that are not whitespace (0x00-0x08, 0x0E-0x1B, 0x7F) become spaces, and
 * " ".join(text.split()).casefold() then splits on every byte <= 0x20 and on 0x7F. */
static Py_ssize_t ascii_normalize(const unsigned char *s, Py_ssize_t n, unsigned char *o) {
    Py_ssize_t len = 0;
    int gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c <= 0x20 || c == 0x7f) { gap = 1; continue; }
        if (gap && len) o[len++] = ' ';
        gap = 0;
        o[len++] = (unsigned char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    return len;
}

static PyObject *normalize(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(arg)) {
        PyErr_SetString(PyExc_ValueError, "expected an ASCII str (other text takes the Python path)");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    PyObject *out = PyUnicode_New(n, 127);
    if (!out) return NULL;
    unsigned char *o = PyUnicode_1BYTE_DATA(out);
    Py_ssize_t len = ascii_normalize(PyUnicode_1BYTE_DATA(arg), n, o);
    if (len == n) return out;
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, o, len);
    Py_DECREF(out);
    return result;
}

/* The format-character removal, control-character replacement and whitespace collapse of
 * normalize.normalize, for any str: `format_ranges` holds the Cf code points as sorted
 * inclusive (first, last) uint32 pairs (normalize._FORMAT_RANGES, from unicodedata, so
 * that both sides read the same Unicode version). Cf characters vanish; the controls that
 * are not whitespace (Cc: below 0x20 and 0x7F-0x9F) and all whitespace separate words,
 * which are joined by single spaces. */
static int in_ranges(Ch c, const uint32_t *ranges, Py_ssize_t pairs) {
    Py_ssize_t lo = 0, hi = pairs;
    while (lo < hi) { /* first pair whose last is >= c */
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (ranges[2 * mid + 1] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < pairs && ranges[2 * lo] <= c;
}

static PyObject *strip_and_collapse(PyObject *self, PyObject *args) {
    PyObject *text, *ranges_obj;
    if (!PyArg_ParseTuple(args, "UO:strip_and_collapse", &text, &ranges_obj)) return NULL;
    Py_buffer rv;
    if (PyObject_GetBuffer(ranges_obj, &rv, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (rv.itemsize != 4 || (rv.len / 4) % 2 != 0) {
        PyBuffer_Release(&rv);
        PyErr_SetString(PyExc_ValueError, "format_ranges must be (first, last) pairs of uint32");
        return NULL;
    }
    const uint32_t *ranges = rv.buf;
    Py_ssize_t pairs = rv.len / 8;
    Ch first_format = pairs ? ranges[0] : 0x110000;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), len = 0;
    Ch *out = PyMem_Malloc(sizeof(Ch) * (size_t)(n ? n : 1));
    if (!out) {
        PyBuffer_Release(&rv);
        return PyErr_NoMemory();
    }
    int gap = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Ch c = PyUnicode_READ(kind, data, i);
        if (c >= first_format && in_ranges(c, ranges, pairs)) continue;
        if (c < 0x21 || (c >= 0x7f && c <= 0x9f) || Py_UNICODE_ISSPACE(c)) {
            gap = 1;
            continue;
        }
        if (gap && len) out[len++] = ' ';
        gap = 0;
        out[len++] = c;
    }
    PyBuffer_Release(&rv);
    PyObject *result = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, len);
    PyMem_Free(out);
    return result;
}

/* -- normalize.mask_identifiers (all but the leading-tag strip, which stays in Python) - */

/* _UUID: \b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b, re.I */
static Py_ssize_t match_uuid(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (n - p < 36 || word_at(s, n, p - 1)) return -1;
    for (Py_ssize_t k = 0; k < 36; k++) {
        if (k == 8 || k == 13 || k == 18 || k == 23) {
            if (s[p + k] != '-') return -1;
        } else if (!is_hex_i(s[p + k])) {
            return -1;
        }
    }
    return word_at(s, n, p + 36) ? -1 : p + 36;
}

/* _HEX: \b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b, re.I. The run of hex digits is
 * taken whole (a shorter one would end between two word characters, never at \b); both
 * lookaheads look inside that run. */
static Py_ssize_t match_hex(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (!is_hex_i(s[p]) || word_at(s, n, p - 1)) return -1;
    Py_ssize_t e = p;
    int digit = 0, letter = 0;
    while (e < n && is_hex_i(s[e])) {
        digit |= s[e] <= '9';
        letter |= is_hex_letter_i(s[e]);
        e++;
    }
    if (e - p < 8 || !digit || !letter || word_at(s, n, e)) return -1;
    return e;
}

/* _ALNUM_ID: \b(?=\w*\d)(?=\w*[a-z])[a-z0-9_-]{10,}\b, re.I. The lookaheads look inside
 * the word run that starts at p; the body takes its whole run of [a-z0-9_-] and, as sre
 * does, gives back characters until it ends at a word boundary, no shorter than 10. */
static inline int is_id_char_i(Ch c) { return (c >= '0' && c <= '9') || c == '_' || c == '-' || is_letter_i(c); }

static Py_ssize_t match_alnum_id(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (!is_word(s[p]) || word_at(s, n, p - 1)) return -1;
    Py_ssize_t w = p;
    int digit = 0, letter = 0;
    while (w < n && is_word(s[w])) {
        digit |= is_digit(s[w]);
        letter |= is_letter_i(s[w]);
        w++;
    }
    if (!digit || !letter) return -1;
    Py_ssize_t r = p;
    while (r < n && is_id_char_i(s[r])) r++;
    for (Py_ssize_t e = r; e >= p + 10; e--)
        if (boundary(s, n, e)) return e;
    return -1;
}

/* _has_long_run_with_digit: a run of [\w-] that holds a \d and is at least 8 long. */
static int has_long_run_with_digit(const Ch *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (!is_word_or_hyphen(s[i])) { i++; continue; }
        Py_ssize_t start = i;
        int digit = 0;
        while (i < n && is_word_or_hyphen(s[i])) digit |= is_digit(s[i++]);
        if (digit && i - start >= 8) return 1;
    }
    return 0;
}

/* _UUID, then _HEX and _ALNUM_ID, on the chain's text; -1 when out of memory. */
static int mask_passes(Chain *c) {
    if (!has_digit(c->cur, c->len)) return 0; /* every identifier pattern needs a digit */
    if (has_char(c->cur, c->len, '-') && chain_pass(c, match_uuid, "<id>") < 0) return -1;
    if (has_long_run_with_digit(c->cur, c->len))
        if (chain_pass(c, match_hex, "<id>") < 0 || chain_pass(c, match_alnum_id, "<id>") < 0) return -1;
    return 0;
}

static PyObject *mask_identifiers(PyObject *self, PyObject *arg) {
    Chain c;
    if (chain_open(&c, arg) < 0) return NULL;
    return chain_close(&c, arg, mask_passes(&c) < 0);
}

/* -- skeleton.skeleton -------------------------------------------------------------------- */

/* _CODE: ```.*?(?:```|$), re.S. The lazy body stops at the first closing fence or at $
 * (the end, or just before a newline that ends the text). */
static inline int fence_at(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    return n - p >= 3 && s[p] == '`' && s[p + 1] == '`' && s[p + 2] == '`';
}

static Py_ssize_t match_code(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (!fence_at(s, n, p)) return -1;
    for (Py_ssize_t k = p + 3;; k++) {
        if (fence_at(s, n, k)) return k + 3;
        if (k == n || (k == n - 1 && s[k] == '\n')) return k;
    }
}

/* _URL: \b(?:https?://|www\.)\S+, re.I */
static Py_ssize_t match_url(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (word_at(s, n, p - 1)) return -1;
    Py_ssize_t q;
    if (n - p >= 4 && is_letter_i_of(s[p], 'h') && is_letter_i_of(s[p + 1], 't') && is_letter_i_of(s[p + 2], 't') &&
        is_letter_i_of(s[p + 3], 'p')) {
        q = p + 4;
        if (q < n && is_letter_i_of(s[q], 's')) q++;
        if (n - q < 3 || s[q] != ':' || s[q + 1] != '/' || s[q + 2] != '/') return -1;
        q += 3;
    } else if (n - p >= 4 && is_letter_i_of(s[p], 'w') && is_letter_i_of(s[p + 1], 'w') &&
               is_letter_i_of(s[p + 2], 'w') && s[p + 3] == '.') {
        q = p + 4;
    } else {
        return -1;
    }
    Py_ssize_t e = q;
    while (e < n && !is_space(s[e])) e++;
    return e > q ? e : -1;
}

/* _EMAIL: \b[\w.+-]+@[\w-]+\.[\w.-]+\b. The first two runs cannot give anything back
 * (what follows them, '@' and '.', is outside their class), so each must end exactly
 * there; the last run gives back characters until it ends at a word boundary. */
static inline int is_local_part(Ch c) { return c == '.' || c == '+' || c == '-' || is_word(c); }
static inline int is_domain_tail(Ch c) { return c == '.' || c == '-' || is_word(c); }

static Py_ssize_t match_email(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (!is_local_part(s[p]) || !boundary(s, n, p)) return -1;
    Py_ssize_t at = p;
    while (at < n && is_local_part(s[at])) at++;
    if (at >= n || s[at] != '@') return -1;
    Py_ssize_t dot = at + 1;
    while (dot < n && is_word_or_hyphen(s[dot])) dot++;
    if (dot == at + 1 || dot >= n || s[dot] != '.') return -1;
    Py_ssize_t r = dot + 1;
    while (r < n && is_domain_tail(s[r])) r++;
    for (Py_ssize_t e = r; e >= dot + 2; e--)
        if (boundary(s, n, e)) return e;
    return -1;
}

/* _QUOTE: (["“«])[^"”»]{80,}?(["”»]): an opening quote whose first closing quote comes
 * after at least 80 other characters. */
static inline int is_close_quote(Ch c) { return c == '"' || c == 0x201d || c == 0xbb; }

static Py_ssize_t match_quote(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (s[p] != '"' && s[p] != 0x201c && s[p] != 0xab) return -1;
    Py_ssize_t q = p + 1;
    while (q < n && !is_close_quote(s[q])) q++;
    if (q == n || q - p - 1 < 80) return -1;
    return q + 1;
}

/* _NUMBER: (?<![\w<])[-+]?\$?\d[\d,]*(?:\.\d+)?%?(?![\w>]). The sign and '$' cannot be
 * given back (without them \d would face them); [\d,]* gives back one character at a
 * time, and for each length the fraction then the '%' are tried with and without, in
 * sre's order, until the lookahead holds. */
static inline int number_may_end(const Ch *s, Py_ssize_t n, Py_ssize_t e) {
    return e == n || (!is_word(s[e]) && s[e] != '>');
}

static Py_ssize_t number_end_after(const Ch *s, Py_ssize_t n, Py_ssize_t x) {
    if (x < n && s[x] == '%' && number_may_end(s, n, x + 1)) return x + 1;
    return number_may_end(s, n, x) ? x : -1;
}

static Py_ssize_t match_number(const Ch *s, Py_ssize_t n, Py_ssize_t p) {
    if (p > 0 && (is_word(s[p - 1]) || s[p - 1] == '<')) return -1;
    Py_ssize_t i = p;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    if (i < n && s[i] == '$') i++;
    if (i >= n || !is_digit(s[i])) return -1;
    i++;
    Py_ssize_t j = i;
    while (j < n && (s[j] == ',' || is_digit(s[j]))) j++;
    for (; j >= i; j--) {
        if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1])) {
            Py_ssize_t k = j + 1;
            while (k < n && is_digit(s[k])) k++;
            Py_ssize_t e = number_end_after(s, n, k);
            if (e >= 0) return e;
        }
        Py_ssize_t e = number_end_after(s, n, j);
        if (e >= 0) return e;
    }
    return -1;
}

/* _CODE, _URL, _EMAIL, _QUOTE and _NUMBER in turn, each only where the text (as the last
 * step left it) could hold a match; -1 when out of memory. */
static int skeleton_passes(Chain *c) {
    if (contains(c->cur, c->len, "```") && chain_pass(c, match_code, " <code> ") < 0) return -1;
    if ((contains(c->cur, c->len, "http") || contains(c->cur, c->len, "www.")) && chain_pass(c, match_url, "<url>") < 0)
        return -1;
    if (has_char(c->cur, c->len, '@') && chain_pass(c, match_email, "<email>") < 0) return -1;
    if (chain_pass(c, match_quote, "<quote>") < 0) return -1;
    if (has_digit(c->cur, c->len) && chain_pass(c, match_number, "<num>") < 0) return -1;
    return 0;
}

static PyObject *skeleton(PyObject *self, PyObject *arg) {
    Chain c;
    if (chain_open(&c, arg) < 0) return NULL;
    return chain_close(&c, arg, skeleton_passes(&c) < 0);
}

/* -- the whole signature, for a batch of texts, without the GIL ---------------------------- */

/* Where a text enters the pipeline (skeleton.signatures decides, per text). */
enum { STAGE_RAW_ASCII = 0, STAGE_NORMALIZED = 1, STAGE_CANONICAL = 2, STAGE_SKELETON = 3 };

/* A batch of texts whose characters add up to this many or more is worked on with the
 * GIL released (a batch of ingested prompts: milliseconds of work that another thread's
 * Python can overlap). Smaller ones, such as CheckPrompt's single text, keep it: getting
 * the GIL back can wait for another thread's switch interval (5 ms). */
#define RELEASE_GIL_CHARS 8192

typedef struct {
    /* in: the text (a str the batch holds a reference to: immutable, readable without the GIL) */
    int kind;
    const void *data;
    Py_ssize_t n;
    int stage;
    /* out */
    int status; /* 0: done; 1: for the Python path (a possible leading id tag, or a lone surrogate); -1: out of memory */
    uint64_t head, tail;
    uint32_t text_hash;
    uint64_t copy_hash;
    Hashes hashes;
} SignItem;

/* _ID_PREFIX can match a canonical text (no leading whitespace: normalize strips it) only
 * when it starts with one of these; such a text takes the Python path. */
static inline int may_start_id_tag(Ch c) { return c == '[' || c == '(' || c == '<' || c == '{' || c == '#'; }

/* zlib.crc32 (canonical_hash) and 64-bit FNV-1a (copy_hash) of the text's UTF-8, in one
 * pass; 1 when it holds a lone surrogate, which has no UTF-8 (the Python path raises
 * UnicodeEncodeError for it). */
static int text_hashes_utf8(const Ch *s, Py_ssize_t n, uint32_t *crc_out, uint64_t *fnv_out) {
    uint32_t crc = 0xFFFFFFFFu;
    uint64_t fnv = 0xcbf29ce484222325ull;
    unsigned char bytes[4];
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] >= 0xD800 && s[i] <= 0xDFFF) return 1;
        Py_ssize_t k = utf8_put(bytes, s[i]);
        for (Py_ssize_t j = 0; j < k; j++) {
            crc = crc_table[(crc ^ bytes[j]) & 0xFF] ^ (crc >> 8);
            fnv = (fnv ^ bytes[j]) * 0x100000001b3ull;
        }
    }
    *crc_out = ~crc;
    *fnv_out = fnv;
    return 0;
}

static void sign_one(SignItem *it, const ShingleParams *params) {
    Ch *input = PyMem_RawMalloc(sizeof(Ch) * (size_t)(it->n ? it->n : 1));
    if (!input) {
        it->status = -1;
        return;
    }
    Py_ssize_t len = it->n;
    if (it->stage == STAGE_RAW_ASCII) { /* normalize in place over the bytes' widening */
        const unsigned char *s = it->data;
        unsigned char *narrow = (unsigned char *)input; /* n bytes fit in the n code points' room */
        len = ascii_normalize(s, it->n, narrow);
        for (Py_ssize_t i = len; i-- > 0;) input[i] = narrow[i]; /* widen from the end: no overlap */
    } else {
        for (Py_ssize_t i = 0; i < len; i++) input[i] = PyUnicode_READ(it->kind, it->data, i);
    }
    Chain c;
    chain_start(&c, input, len);
    it->status = 0;
    if (it->stage <= STAGE_NORMALIZED) {
        if (mask_passes(&c) < 0) it->status = -1;
        else if (c.len && may_start_id_tag(c.cur[0])) it->status = 1;
    }
    if (it->status == 0 && text_hashes_utf8(c.cur, c.len, &it->text_hash, &it->copy_hash)) it->status = 1;
    if (it->status == 0 && it->stage <= STAGE_CANONICAL && skeleton_passes(&c) < 0) it->status = -1;
    if (it->status == 0 && shingle_hashes(PyUnicode_4BYTE_KIND, c.cur, c.len, params, &it->hashes, &it->head, &it->tail) < 0)
        it->status = -1;
    chain_free(&c);
}

PyDoc_STRVAR(signatures_doc,
"signatures(texts, stages, shingle_words, head_tokens, tail_tokens, anchor_tokens)\n"
"-> list of (head anchor, tail anchor, sorted unique uint64 shingle bytes, text hash, copy hash) or None\n\n"
"skeleton.signature for each text, from the stage given in the bytes `stages`: 0 a raw ASCII\n"
"text (normalize, mask, skeleton, shingles), 1 a normalized text (mask on), 2 a canonical\n"
"text (skeleton on), 3 a skeleton (shingles only). None where the Python path must finish\n"
"(a text that may start with an id tag, which _ID_PREFIX strips, or a lone surrogate).\n"
"The text hash is zlib.crc32 of the canonical text's UTF-8 (of the skeleton, at stage 3), the\n"
"copy hash its 64-bit FNV-1a.\n"
"A large batch is worked on with the GIL released.");

static PyObject *signatures(PyObject *self, PyObject *args) {
    PyObject *texts;
    Py_buffer stages;
    ShingleParams params;
    if (!PyArg_ParseTuple(args, "O!y*nnnn:signatures", &PyList_Type, &texts, &stages, &params.words, &params.head_tokens,
                          &params.tail_tokens, &params.anchor_tokens))
        return NULL;
    PyObject *result = NULL, *held = NULL;
    SignItem *items = NULL;
    Py_ssize_t count = PyList_GET_SIZE(texts), total = 0;
    if (params.words < 1 || params.head_tokens < 0 || params.tail_tokens < 0 || params.anchor_tokens < 1) {
        PyErr_SetString(PyExc_ValueError, "shingle_words and anchor_tokens must be >= 1, head and tail tokens >= 0");
        goto done;
    }
    if (stages.len != count) {
        PyErr_Format(PyExc_ValueError, "%zd texts but %zd stages", count, stages.len);
        goto done;
    }
    /* a tuple of the texts: the list may change while the GIL is released, the tuple not */
    held = PyList_AsTuple(texts);
    items = PyMem_RawCalloc((size_t)(count ? count : 1), sizeof(SignItem));
    if (!held || !items) {
        if (held) PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *text = PyTuple_GET_ITEM(held, i);
        int stage = ((const unsigned char *)stages.buf)[i];
        if (!PyUnicode_Check(text) || stage > STAGE_SKELETON || (stage == STAGE_RAW_ASCII && !PyUnicode_IS_ASCII(text))) {
            PyErr_Format(PyExc_ValueError, "text %zd: expected a str (ASCII at stage 0) and a stage in 0..3", i);
            goto done;
        }
        items[i] = (SignItem){PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text), stage};
        total += items[i].n;
    }
    if (total >= RELEASE_GIL_CHARS) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < count; i++) sign_one(&items[i], &params);
        Py_END_ALLOW_THREADS
    } else {
        for (Py_ssize_t i = 0; i < count; i++) sign_one(&items[i], &params);
    }
    result = PyList_New(count);
    for (Py_ssize_t i = 0; result && i < count; i++) {
        SignItem *it = &items[i];
        PyObject *entry = NULL;
        if (it->status < 0) {
            PyErr_NoMemory();
        } else if (it->status > 0) {
            entry = Py_NewRef(Py_None);
        } else {
            PyObject *sorted_bytes = PyBytes_FromStringAndSize(it->hashes.values ? (const char *)it->hashes.values : "",
                                                               it->hashes.count * (Py_ssize_t)sizeof(uint64_t));
            if (sorted_bytes)
                entry = Py_BuildValue("(KKNkK)", (unsigned long long)it->head, (unsigned long long)it->tail, sorted_bytes,
                                      (unsigned long)it->text_hash, (unsigned long long)it->copy_hash);
        }
        if (!entry) Py_CLEAR(result);
        else PyList_SET_ITEM(result, i, entry);
    }
done:
    if (items)
        for (Py_ssize_t i = 0; i < count; i++) PyMem_RawFree(items[i].hashes.values);
    PyMem_RawFree(items);
    Py_XDECREF(held);
    PyBuffer_Release(&stages);
    return result;
}

static PyMethodDef methods[] = {
    {"normalize", normalize, METH_O, "normalize.normalize of an ASCII str (ValueError for any other)."},
    {"strip_and_collapse", strip_and_collapse, METH_VARARGS,
     "strip_and_collapse(text, format_ranges): normalize's format-character removal, control replacement and "
     "whitespace collapse, for any str."},
    {"mask_identifiers", mask_identifiers, METH_O,
     "normalize.mask_identifiers up to its leading-tag strip (_ID_PREFIX), of any str."},
    {"skeleton", skeleton, METH_O, "skeleton.skeleton of any str."},
    {"signatures", signatures, METH_VARARGS, signatures_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_canonical",
                                    "The canonical-text and skeleton steps of the fingerprint, in C.", -1, methods};

PyMODINIT_FUNC PyInit__canonical(void) {
    crc_init();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    /* the non-ASCII code points each re.I class above takes (checked against re by the tests) */
    PyObject *extras = Py_BuildValue("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "[a-z]", "\xc4\xb0\xc4\xb1\xc5\xbf\xe2\x84\xaa",
                                     "[a-z0-9_-]", "\xc4\xb0\xc4\xb1\xc5\xbf\xe2\x84\xaa", "[0-9a-f]", "", "[a-f]", "",
                                     "h", "", "t", "", "p", "", "s", "\xc5\xbf", "w", "");
    if (!extras || PyModule_AddObject(m, "IGNORECASE_EXTRAS", extras) < 0) {
        Py_XDECREF(extras);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
