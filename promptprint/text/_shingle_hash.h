/* Word tokens and shingle hashes of a prompt skeleton, in one pass over its characters:
 * shared by promptprint/text/_canonical.c (the signature pipeline) and promptprint/text/_shingles.c
 * (tokens). Nothing here touches a Python object or needs the GIL: memory comes from
 * PyMem_Raw*, and a failed allocation returns -1 for the caller to report.
 *
 * The output is bit-for-bit the one of the Python definition it replaced (kept as the
 * test oracle in tests/test_shingles.py), so stored signatures stay valid:
 *
 *   tokens  = re.findall(r"<\w+>|\w+", skeleton)        # \w as Python's re: str.isalnum() or "_"
 *   gram    = " ".join(three consecutive tokens)        # of the head and tail parts
 *   hash    = (zlib.crc32(gram_utf8) << 32) | zlib.adler32(gram_utf8)
 *   anchors = hash("\x02" + " ".join(tokens[:n])), hash("\x03" + " ".join(tokens[-n:]))
 *
 * crc32 and adler32 are zlib's (same polynomial, same start values), written out here so
 * the build needs nothing but the Python headers. Call crc_init() once at module import.
 */
#ifndef PROMPTPRINT_SHINGLE_HASH_H
#define PROMPTPRINT_SHINGLE_HASH_H

#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static inline void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

/* zlib's bound: this many bytes can be summed into unreduced adler32 halves (each below
 * 65521 at the start) before the second one could overflow 32 bits. */
#define ADLER_BASE 65521u
#define ADLER_NMAX 5552

typedef struct {
    uint32_t crc; /* running, pre-inverted */
    uint32_t a, b; /* adler32 halves, reduced modulo ADLER_BASE every ADLER_NMAX bytes */
    Py_ssize_t unreduced; /* bytes summed since the last reduction */
} Hasher;

static inline void hasher_start(Hasher *h) {
    h->crc = 0xFFFFFFFFu;
    h->a = 1;
    h->b = 0;
    h->unreduced = 0;
}

static inline void hasher_update(Hasher *h, const unsigned char *p, Py_ssize_t n) {
    uint32_t crc = h->crc, a = h->a, b = h->b;
    while (n > 0) {
        Py_ssize_t chunk = ADLER_NMAX - h->unreduced;
        if (chunk > n) chunk = n;
        for (Py_ssize_t i = 0; i < chunk; i++) {
            crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
            a += p[i];
            b += a;
        }
        h->unreduced += chunk;
        if (h->unreduced == ADLER_NMAX) {
            a %= ADLER_BASE;
            b %= ADLER_BASE;
            h->unreduced = 0;
        }
        p += chunk;
        n -= chunk;
    }
    h->crc = crc;
    h->a = a;
    h->b = b;
}

static inline uint64_t hasher_value(const Hasher *h) {
    uint32_t crc = ~h->crc;
    return ((uint64_t)crc << 32) | ((uint64_t)(h->b % ADLER_BASE) << 16) | (h->a % ADLER_BASE);
}

/* Python's re \w for str patterns: alphanumeric (Py_UNICODE_ISALNUM) or underscore. */
static inline int token_char(Py_UCS4 ch) { return ch == '_' || Py_UNICODE_ISALNUM(ch); }

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
    PyMem_RawFree(t->bytes);
    PyMem_RawFree(t->start);
    PyMem_RawFree(t->len);
}

static int tokenize(int kind, const void *data, Py_ssize_t n, Tokens *out) {
    /* at most n tokens (each takes a character) and 4 bytes per character */
    out->bytes = PyMem_RawMalloc((size_t)(n > 0 ? n : 1) * 4);
    out->start = PyMem_RawMalloc(sizeof(Py_ssize_t) * ((size_t)n + 1));
    out->len = PyMem_RawMalloc(sizeof(Py_ssize_t) * ((size_t)n + 1));
    out->count = 0;
    if (!out->bytes || !out->start || !out->len) {
        tokens_free(out);
        return -1;
    }
    Py_ssize_t used = 0, i = 0;
    while (i < n) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        Py_ssize_t first = -1, last = -1; /* token characters [first, last) */
        if (ch == '<') {
            Py_ssize_t j = i + 1;
            while (j < n && token_char(PyUnicode_READ(kind, data, j))) j++;
            if (j > i + 1 && j < n && PyUnicode_READ(kind, data, j) == '>') {
                first = i;
                last = j + 1; /* "<word>" */
            }
        } else if (token_char(ch)) {
            Py_ssize_t j = i + 1;
            while (j < n && token_char(PyUnicode_READ(kind, data, j))) j++;
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

/* The signature's hashes, sorted and deduplicated at the end into the uint64 array the
 * tracker reads (Signature.sorted_shingles). */
typedef struct {
    uint64_t *values;
    Py_ssize_t count, cap;
} Hashes;

static int add_hash(Hashes *h, uint64_t value) {
    if (h->count == h->cap) {
        Py_ssize_t cap = h->cap ? 2 * h->cap : 256;
        uint64_t *values = PyMem_RawRealloc(h->values, sizeof(uint64_t) * (size_t)cap);
        if (values == NULL) return -1;
        h->values = values;
        h->cap = cap;
    }
    h->values[h->count++] = value;
    return 0;
}

static int add_grams(Hashes *h, const Tokens *t, Py_ssize_t from, Py_ssize_t to, Py_ssize_t words) {
    for (Py_ssize_t i = from; i + words <= to; i++) {
        if (add_hash(h, hash_run(t, i, i + words, 0)) < 0) return -1;
    }
    return 0;
}

static int by_value(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : (a > b);
}

/* The shingle hashes of a skeleton's code points (kind/data as PyUnicode_READ takes
 * them): word n-grams of the first head_tokens and last tail_tokens tokens (all of them
 * when there are no more than head_tokens + tail_tokens), plus the two anchors when there
 * are more than anchor_tokens + 1 tokens (else both are 0); sorted and unique. Needs no
 * GIL; -1 when out of memory (nothing to free then). */
typedef struct {
    Py_ssize_t words, head_tokens, tail_tokens, anchor_tokens;
} ShingleParams;

static inline int shingle_hashes(int kind, const void *data, Py_ssize_t n, const ShingleParams *p, Hashes *h, uint64_t *head,
                          uint64_t *tail) {
    Tokens t;
    *h = (Hashes){NULL, 0, 0};
    *head = *tail = 0;
    if (tokenize(kind, data, n, &t) < 0) return -1;
    int failed;
    if (t.count > p->head_tokens + p->tail_tokens) {
        failed = add_grams(h, &t, 0, p->head_tokens, p->words) < 0 ||
                 add_grams(h, &t, t.count - p->tail_tokens, t.count, p->words) < 0;
    } else {
        failed = add_grams(h, &t, 0, t.count, p->words) < 0;
    }
    if (!failed && t.count > p->anchor_tokens + 1) {
        *head = hash_run(&t, 0, p->anchor_tokens, 0x02);
        *tail = hash_run(&t, t.count - p->anchor_tokens, t.count, 0x03);
        failed = add_hash(h, *head) < 0 || add_hash(h, *tail) < 0;
    }
    tokens_free(&t);
    if (failed) {
        PyMem_RawFree(h->values);
        h->values = NULL;
        return -1;
    }
    Py_ssize_t unique = 0;
    if (h->count) {
        qsort(h->values, (size_t)h->count, sizeof(uint64_t), by_value);
        for (Py_ssize_t i = 0; i < h->count; i++)
            if (i == 0 || h->values[i] != h->values[unique - 1]) h->values[unique++] = h->values[i];
    }
    h->count = unique;
    return 0;
}

#endif
