/*
 * kea_etl._isc4 -- C fast path for dhcpd.leases v4 lease blocks and dhcpd6.leases ia-na /
 * ia-ta / ia-pd blocks in dhcpd's own layout (scan6 / keys6: see the DHCPv6 part below).
 *
 * Internal to kea_etl.extract.isc_leases (pass 2). scan4() walks consecutive
 *
 *     \nlease A.B.C.D {\n  starts ...;\n ... \n}
 *
 * blocks of one chunk, starting at a "\n", and builds for every winner exactly the item the
 * Python parser (_make4) builds: an Extracted holding a Lease4. It accepts only the strict
 * subset of what the Python regex _BLOCK4 reads without help: statements in dhcpd 4.x's fixed
 * order (server/db.c write_lease), canonical dates or "never", a known binding state, an
 * "ethernet" MAC in lowercase colon hex, a uid as quoted string (octal, \" and \\ escapes) or
 * colon hex, a plain ASCII client-hostname, no set / option / reserved / dynamic-bootp lines.
 * At the first block it does not accept it stops and returns where; the Python parser takes
 * that block (and reports errors in it) and calls scan4 again after it. So every value either
 * comes from here, decoded the same way, or from the Python code -- never a third behaviour.
 * tests/extract/test_isc_accel.py compares both on the sample files, generated files and every
 * bail-out case.
 *
 * Records are built the way kea_etl._fastrec does in Python: a new instance of the frozen,
 * slotted class with its slots stored directly (values are canonical already). init() finds the
 * slot offsets from the classes' member descriptors and refuses (returns False, and the Python
 * parser is used) unless every slot is a plain object slot.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define N_EXT 5
#define MAX_TAIL 8
#define N_LEASE 13
#define INFINITE_LIFETIME 0xFFFFFFFFLL
#define NEVER (-1LL)
#define ABSENT (-2LL)

static const char *EXT_SLOTS[N_EXT] = {"record", "binding_state", "source", "line", "extra"};
static const char *LEASE_SLOTS[N_LEASE] = {
    "address", "hwaddr", "valid_lft", "cltt", "client_id", "subnet_id", "hostname",
    "fqdn_fwd", "fqdn_rev", "state", "user_context", "origin", "line"};

static const char *STATES[] = {"active", "free", "abandoned", "backup", "expired", "released",
                               "reset", "bootp"};
#define N_STATES 8

static struct {
    int ready;
    PyTypeObject *ext_type, *lease_type, *addr_type;
    Py_ssize_t ext_off[N_EXT], lease_off[N_LEASE], addr_off;
    /* Extracted's slots after "extra" and what its constructor puts there (init's `tail`) */
    int n_tail;
    Py_ssize_t tail_off[MAX_TAIL];
    PyObject *tail_val[MAX_TAIL];
    PyObject *states[N_STATES];
    PyObject *k_starts, *k_ends, *k_tstp, *k_tsfp, *k_atsfp, *k_cltt, *k_next, *k_rewind, *k_host;
    PyObject *zero, *empty;
} S;

static int
slot_offset(PyTypeObject *tp, const char *name, Py_ssize_t *out)
{
    PyObject *d = PyDict_GetItemString(tp->tp_dict, name); /* borrowed */
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type))
        return 0;
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY))
        return 0;
    *out = m->offset;
    return 1;
}

/* tp.__slots__ starts with names[0..n) and has `extra` more after them */
static int
slots_match_tail(PyTypeObject *tp, const char **names, int n, Py_ssize_t extra)
{
    PyObject *slots = PyObject_GetAttrString((PyObject *)tp, "__slots__");
    if (slots == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *t = PySequence_Tuple(slots);
    Py_DECREF(slots);
    if (t == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = PyTuple_GET_SIZE(t) == n + extra;
    for (int i = 0; ok && i < n; i++) {
        PyObject *s = PyTuple_GET_ITEM(t, i);
        ok = PyUnicode_Check(s) && PyUnicode_CompareWithASCIIString(s, names[i]) == 0;
    }
    Py_DECREF(t);
    return ok;
}

static int
slots_match(PyTypeObject *tp, const char **names, int n)
{
    return slots_match_tail(tp, names, n, 0);
}

/* init(Extracted, Lease4, IPv4Address, tail) -> bool: whether scan4 can build these classes;
 * tail holds the values of Extracted's slots after "extra" (its constructor's defaults) */
static PyObject *
isc4_init(PyObject *self, PyObject *args)
{
    PyTypeObject *ext, *lease, *addr;
    PyObject *tail;
    if (!PyArg_ParseTuple(args, "O!O!O!O!", &PyType_Type, &ext, &PyType_Type, &lease,
                          &PyType_Type, &addr, &PyTuple_Type, &tail))
        return NULL;
    S.ready = 0;
    Py_ssize_t n_tail = PyTuple_GET_SIZE(tail);
    if (n_tail > MAX_TAIL || !slots_match_tail(ext, EXT_SLOTS, N_EXT, n_tail) ||
        !slots_match(lease, LEASE_SLOTS, N_LEASE))
        Py_RETURN_FALSE;
    for (int i = 0; i < N_EXT; i++)
        if (!slot_offset(ext, EXT_SLOTS[i], &S.ext_off[i]))
            Py_RETURN_FALSE;
    PyObject *names = PyObject_GetAttrString((PyObject *)ext, "__slots__");
    PyObject *names_t = names ? PySequence_Tuple(names) : NULL;
    Py_XDECREF(names);
    if (names_t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n_tail; i++) {
        PyObject *name = PyTuple_GET_ITEM(names_t, N_EXT + i);
        const char *cname = PyUnicode_AsUTF8(name);
        if (cname == NULL || !slot_offset(ext, cname, &S.tail_off[i])) {
            Py_DECREF(names_t);
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
    }
    Py_DECREF(names_t);
    for (int i = 0; i < S.n_tail; i++)
        Py_CLEAR(S.tail_val[i]);
    for (Py_ssize_t i = 0; i < n_tail; i++)
        S.tail_val[i] = Py_NewRef(PyTuple_GET_ITEM(tail, i));
    S.n_tail = (int)n_tail;
    for (int i = 0; i < N_LEASE; i++)
        if (!slot_offset(lease, LEASE_SLOTS[i], &S.lease_off[i]))
            Py_RETURN_FALSE;
    if (!slot_offset(addr, "_ip", &S.addr_off))
        Py_RETURN_FALSE;
    /* plain classes only: instances made by tp_alloc, no custom __new__ state */
    if (ext->tp_itemsize || lease->tp_itemsize || addr->tp_itemsize)
        Py_RETURN_FALSE;
    Py_INCREF(ext);
    Py_INCREF(lease);
    Py_INCREF(addr);
    Py_XSETREF(S.ext_type, ext);
    Py_XSETREF(S.lease_type, lease);
    Py_XSETREF(S.addr_type, addr);
    S.ready = 1;
    Py_RETURN_TRUE;
}

/* ---------------------------------------------------------------------------------------- */
/* value decoding; each returns 0 when the text is not in the accepted canonical form        */

static inline int
dig(char c)
{
    return c >= '0' && c <= '9';
}

static int
dec(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!dig(p[i]))
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "W YYYY/MM/DD HH:MM:SS" (UTC) or "never"; value is p[0..n) */
static int
parse_date(const char *p, Py_ssize_t n, int64_t *out)
{
    if (n == 5 && memcmp(p, "never", 5) == 0) {
        *out = NEVER;
        return 1;
    }
    if (n != 21 || !dig(p[0]) || p[1] != ' ' || p[6] != '/' || p[9] != '/' || p[12] != ' ' ||
        p[15] != ':' || p[18] != ':')
        return 0;
    int y, mo, d, hh, mi, ss;
    if (!dec(p + 2, 4, &y) || !dec(p + 7, 2, &mo) || !dec(p + 10, 2, &d) ||
        !dec(p + 13, 2, &hh) || !dec(p + 16, 2, &mi) || !dec(p + 19, 2, &ss))
        return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || hh > 23 || mi > 59 || ss > 60)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return 0;
    *out = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss;
    return 1;
}

/* Py_UNICODE_ISSPACE for latin-1 text (what the re module's \s matches in a str) */
static inline int
is_space1(unsigned char c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0;
}

static inline int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* uid value: "quoted" with \ooo (<= 0377), \" and \\ escapes, or colon hex of 1-2 digit
 * groups. Writes the bytes to buf (255 max); returns the length, or -1 to bail. */
static int
parse_uid(const char *p, Py_ssize_t n, unsigned char *buf)
{
    int len = 0;
    if (n == 0)
        return -1;
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        for (Py_ssize_t i = 1; i < n - 1; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '"' || c == '\n')
                return -1;
            if (c == '\\') {
                if (i + 1 >= n - 1)
                    return -1;
                char e = p[i + 1];
                if (e == '"' || e == '\\') {
                    c = (unsigned char)e;
                    i += 1;
                }
                else if (i + 3 < n && e >= '0' && e <= '3' && p[i + 2] >= '0' && p[i + 2] <= '7' &&
                         p[i + 3] >= '0' && p[i + 3] <= '7' && i + 3 < n - 1) {
                    c = (unsigned char)(((e - '0') << 6) | ((p[i + 2] - '0') << 3) | (p[i + 3] - '0'));
                    i += 3;
                }
                else
                    return -1;
            }
            if (len >= 255)
                return -1;
            buf[len++] = c;
        }
        return len;
    }
    /* colon hex */
    Py_ssize_t i = 0;
    while (i < n) {
        int a = hexval(p[i]);
        if (a < 0)
            return -1;
        int v = a;
        i++;
        if (i < n && p[i] != ':') {
            int b = hexval(p[i]);
            if (b < 0)
                return -1;
            v = a * 16 + b;
            i++;
        }
        if (len >= 255)
            return -1;
        buf[len++] = (unsigned char)v;
        if (i < n) {
            if (p[i] != ':' || i + 1 >= n)
                return -1;
            i++;
        }
    }
    return len;
}

static PyObject *
hex_colon(const unsigned char *b, int n)
{
    static const char H[] = "0123456789abcdef";
    PyObject *s = PyUnicode_New(3 * n - 1, 127);
    if (s == NULL)
        return NULL;
    Py_UCS1 *o = PyUnicode_1BYTE_DATA(s);
    for (int i = 0; i < n; i++) {
        if (i)
            *o++ = ':';
        *o++ = H[b[i] >> 4];
        *o++ = H[b[i] & 15];
    }
    return s;
}

static PyObject *
ascii_str(const char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    if (s != NULL)
        memcpy(PyUnicode_1BYTE_DATA(s), p, n);
    return s;
}

/* canonical dotted quad (no leading zeros, each part <= 255), as inet_ntoa prints it */
static int
parse_ipv4(const char *p, Py_ssize_t n, uint32_t *out)
{
    uint32_t ip = 0;
    int parts = 0;
    Py_ssize_t i = 0;
    while (parts < 4) {
        Py_ssize_t st = i;
        int v = 0;
        while (i < n && dig(p[i]) && i - st < 3) {
            v = v * 10 + (p[i] - '0');
            i++;
        }
        Py_ssize_t len = i - st;
        if (len == 0 || v > 255 || (len > 1 && p[st] == '0'))
            return 0;
        ip = (ip << 8) | (uint32_t)v;
        parts++;
        if (parts < 4) {
            if (i >= n || p[i] != '.')
                return 0;
            i++;
        }
    }
    if (i != n)
        return 0;
    *out = ip;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct {
    uint32_t ip;
    int64_t t[6]; /* starts ends tstp tsfp atsfp cltt; ABSENT when not written */
    int state;    /* index in STATES */
    const char *next, *rewind;
    Py_ssize_t next_n, rewind_n;
    const char *hw; /* 17 chars or NULL */
    int has_uid, uid_len;
    unsigned char uid[256];
    const char *host;
    Py_ssize_t host_n;
    int lines; /* number of '\n' from the block's leading "\n" (excl.) to its "}" */
} Block;

/* statement keywords in dhcpd's order; index = stage */
enum { ST_STARTS, ST_ENDS, ST_TSTP, ST_TSFP, ST_ATSFP, ST_CLTT, ST_STATE, ST_NEXT, ST_REWIND,
       ST_HW, ST_UID, ST_HOST, N_ST };
static const char *KW[N_ST] = {"  starts ", "  ends ", "  tstp ", "  tsfp ", "  atsfp ",
                               "  cltt ", "  binding state ", "  next binding state ",
                               "  rewind binding state ", "  hardware ", "  uid ",
                               "  client-hostname "};
static Py_ssize_t KWLEN[N_ST];

static int
known_state(const char *p, Py_ssize_t n)
{
    for (int i = 0; i < N_STATES; i++)
        if ((Py_ssize_t)strlen(STATES[i]) == n && memcmp(STATES[i], p, n) == 0)
            return i;
    return -1;
}

static int
lower_word(const char *p, Py_ssize_t n)
{
    if (n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < 'a' || p[i] > 'z')
            return 0;
    return 1;
}

/* Parse the block at s[pos] == '\n'. Returns the index just after its '}', or -1. */
static Py_ssize_t
parse_block(const char *s, Py_ssize_t n, Py_ssize_t pos, Block *b)
{
    const char *p = s + pos;
    Py_ssize_t rem = n - pos;
    if (rem < 8 || memcmp(p, "\nlease ", 7) != 0)
        return -1;
    Py_ssize_t i = pos + 7;
    Py_ssize_t a0 = i;
    while (i < n && (dig(s[i]) || s[i] == '.'))
        i++;
    if (n - i < 3 || s[i] != ' ' || s[i + 1] != '{' || s[i + 2] != '\n')
        return -1;
    if (!parse_ipv4(s + a0, i - a0, &b->ip))
        return -1;
    i += 3;
    b->lines = 1;
    for (int k = 0; k < 6; k++)
        b->t[k] = ABSENT;
    b->state = -1;
    b->next = b->rewind = b->hw = b->host = NULL;
    b->has_uid = 0;
    int stage = 0;
    for (;;) {
        if (i >= n)
            return -1;
        if (s[i] == '}') {
            if (i + 1 < n && s[i + 1] != '\n')
                return -1;
            if (b->state < 0)
                return -1;
            return i + 1;
        }
        int k = stage;
        while (k < N_ST && (n - i < KWLEN[k] || memcmp(s + i, KW[k], KWLEN[k]) != 0))
            k++;
        if (k == N_ST)
            return -1;
        /* "  ends " is a prefix of nothing else; but "  tsfp " vs "  tstp " etc. are distinct */
        Py_ssize_t v = i + KWLEN[k];
        Py_ssize_t e = v;
        while (e < n && s[e] != '\n')
            e++;
        if (e >= n || e - v < 1 || s[e - 1] != ';')
            return -1;
        Py_ssize_t vn = e - 1 - v; /* value without the ';' */
        const char *vp = s + v;
        if (k <= ST_CLTT) {
            if (memchr(vp, ';', vn) || memchr(vp, '#', vn) || !parse_date(vp, vn, &b->t[k]))
                return -1;
        }
        else if (k == ST_STATE) {
            b->state = known_state(vp, vn);
            if (b->state < 0)
                return -1;
        }
        else if (k == ST_NEXT || k == ST_REWIND) {
            if (!lower_word(vp, vn))
                return -1;
            if (k == ST_NEXT) {
                b->next = vp;
                b->next_n = vn;
            }
            else {
                b->rewind = vp;
                b->rewind_n = vn;
            }
        }
        else if (k == ST_HW) {
            if (vn != 9 + 17 || memcmp(vp, "ethernet ", 9) != 0)
                return -1;
            const char *m = vp + 9;
            for (int j = 0; j < 17; j++) {
                char c = m[j];
                if (j % 3 == 2 ? c != ':' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                    return -1;
            }
            b->hw = m;
        }
        else if (k == ST_UID) {
            if (memchr(vp, ';', vn) && vp[0] != '"')
                return -1;
            int len = parse_uid(vp, vn, b->uid);
            if (len < 0)
                return -1;
            b->has_uid = 1;
            b->uid_len = len;
        }
        else { /* ST_HOST */
            if (vn < 2 || vp[0] != '"' || vp[vn - 1] != '"')
                return -1;
            for (Py_ssize_t j = 1; j < vn - 1; j++) {
                unsigned char c = (unsigned char)vp[j];
                if (c == '"' || c == '\\' || c >= 0x80)
                    return -1;
            }
            b->host = vp + 1;
            b->host_n = vn - 2;
        }
        stage = k + 1;
        i = e + 1;
        b->lines++;
    }
}

static PyObject *
new_instance(PyTypeObject *tp)
{
    return tp->tp_alloc(tp, 0);
}

#define SETSLOT(obj, off, val) (*(PyObject **)((char *)(obj) + (off)) = (val))

/* Extracted's slots after "extra", as its constructor fills them */
static void
set_tail(PyObject *item)
{
    for (int i = 0; i < S.n_tail; i++)
        SETSLOT(item, S.tail_off[i], Py_NewRef(S.tail_val[i]));
}

/* the n slots at off[] of a new instance, in slot order; each value is a reference it steals */
static void
set_slots(PyObject *obj, const Py_ssize_t *off, PyObject *const *vals, int n)
{
    for (int i = 0; i < n; i++)
        SETSLOT(obj, off[i], vals[i]);
}

/* Extracted(lease, state, source, line, extra): steals ln always, lease and extra on success;
   NULL when out of memory (the caller still owns lease and extra) */
static PyObject *
new_extracted(PyObject *lease, PyObject *state, PyObject *source, PyObject *ln, PyObject *extra)
{
    PyObject *item = new_instance(S.ext_type);
    if (item == NULL) {
        Py_DECREF(ln);
        return NULL;
    }
    PyObject *vals[N_EXT] = {lease, Py_NewRef(state), Py_NewRef(source), ln, extra};
    set_slots(item, S.ext_off, vals, N_EXT);
    set_tail(item);
    return item;
}

static PyObject *
time_or_none(int64_t t)
{
    if (t == NEVER)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(t);
}

/* extra[key] = the binding state word p[0..n) (the interned name when it is a known state) */
static int
put_state(PyObject *extra, PyObject *key, const char *p, Py_ssize_t n)
{
    int st = known_state(p, n);
    PyObject *o = st >= 0 ? Py_NewRef(S.states[st]) : ascii_str(p, n);
    if (o == NULL)
        return -1;
    int rc = PyDict_SetItem(extra, key, o);
    Py_DECREF(o);
    return rc;
}

/* the Extracted item of a parsed block, as _make4 builds it; NULL with no error = bail */
static PyObject *
build(const Block *b, PyObject *source, Py_ssize_t line)
{
    static PyObject **const keys[6] = {&S.k_starts, &S.k_ends, &S.k_tstp, &S.k_tsfp, &S.k_atsfp,
                                       &S.k_cltt};
    /* lifetimes: keep the expiry exactly (see the module docstring of isc_leases) */
    int64_t starts = b->t[ST_STARTS], ends = b->t[ST_ENDS], cltt = b->t[ST_CLTT];
    int64_t base = (cltt != ABSENT && cltt >= 0) ? cltt : starts;
    if (base == ABSENT || base < 0)
        base = ABSENT;
    int64_t cltt_out, valid;
    if (ends == ABSENT) {
        cltt_out = base != ABSENT ? base : 0;
        valid = 0;
    }
    else if (ends < 0) {
        cltt_out = base != ABSENT ? base : 0;
        valid = INFINITE_LIFETIME;
    }
    else if (base == ABSENT || ends <= base) {
        cltt_out = ends;
        valid = 0;
    }
    else {
        cltt_out = base;
        valid = ends - base;
        if (valid > INFINITE_LIFETIME)
            valid = INFINITE_LIFETIME;
    }
    if (cltt_out > INFINITE_LIFETIME)
        return NULL; /* the Python parser reports it */

    PyObject *extra = PyDict_New(), *lease = NULL, *item = NULL, *addr = NULL, *o;
    if (extra == NULL)
        return NULL;
    for (int k = 0; k < 6; k++) {
        if (b->t[k] == ABSENT)
            continue;
        o = time_or_none(b->t[k]);
        if (o == NULL || PyDict_SetItem(extra, *keys[k], o) < 0) {
            Py_XDECREF(o);
            goto fail;
        }
        Py_DECREF(o);
    }
    if ((b->next && put_state(extra, S.k_next, b->next, b->next_n) < 0) ||
        (b->rewind && put_state(extra, S.k_rewind, b->rewind, b->rewind_n) < 0))
        goto fail;
    PyObject *hostname;
    if (b->host) {
        hostname = b->host_n ? ascii_str(b->host, b->host_n) : Py_NewRef(S.empty);
        if (hostname == NULL)
            goto fail;
        if (PyDict_SetItem(extra, S.k_host, hostname) < 0) {
            Py_DECREF(hostname);
            goto fail;
        }
    }
    else
        hostname = Py_NewRef(S.empty);

    lease = new_instance(S.lease_type);
    if (lease == NULL) {
        Py_DECREF(hostname);
        goto fail;
    }
    /* every slot is set before anything can fail, so a half-built lease is never seen */
    addr = new_instance(S.addr_type);
    PyObject *ip = PyLong_FromUnsignedLong(b->ip);
    PyObject *hw = b->hw ? ascii_str(b->hw, 17) : Py_NewRef(Py_None);
    PyObject *cid = (b->has_uid && b->uid_len) ? hex_colon(b->uid, b->uid_len) : Py_NewRef(Py_None);
    PyObject *vl = PyLong_FromLongLong(valid), *ct = PyLong_FromLongLong(cltt_out);
    PyObject *ln = PyLong_FromSsize_t(line);
    if (!addr || !ip || !hw || !cid || !vl || !ct || !ln) {
        Py_XDECREF(addr);
        Py_XDECREF(ip);
        Py_XDECREF(hw);
        Py_XDECREF(cid);
        Py_XDECREF(vl);
        Py_XDECREF(ct);
        Py_XDECREF(ln);
        Py_DECREF(hostname);
        /* lease has only NULL slots: safe to drop */
        goto fail;
    }
    SETSLOT(addr, S.addr_off, ip);
    /* in LEASE_SLOTS order */
    PyObject *fields[N_LEASE] = {
        addr, hw, vl, ct, cid, Py_NewRef(S.zero), hostname, Py_NewRef(Py_False),
        Py_NewRef(Py_False), Py_NewRef(S.zero), Py_NewRef(Py_None), Py_NewRef(source),
        Py_NewRef(ln)};
    set_slots(lease, S.lease_off, fields, N_LEASE);
    item = new_extracted(lease, S.states[b->state], source, ln, extra);
    if (item == NULL)
        goto fail;
    return item;

fail:
    Py_XDECREF(lease);
    Py_DECREF(extra);
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    return NULL;
}

/* the arguments scan4 and scan6 share: (text, pos, win, i, line, source, limit, ...) */
typedef struct {
    const char *s, *win;
    Py_ssize_t n, nwin, pos, i, line, limit;
    PyObject *source;
} ScanArgs;

/* 0, or -1 with an error set; `ready` says whether the classes were accepted (init / init6) */
static int
scan_args(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *usage, int ready,
          ScanArgs *a)
{
    if (nargs != want) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "kea_etl._isc4: the record classes were not accepted");
        return -1;
    }
    PyObject *text = args[0], *winobj = args[2];
    if (!PyUnicode_Check(text) || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND ||
        !PyBytes_Check(winobj) || !PyUnicode_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "text must be a latin-1 str, the winners bytes");
        return -1;
    }
    a->pos = PyLong_AsSsize_t(args[1]);
    a->i = PyLong_AsSsize_t(args[3]);
    a->line = PyLong_AsSsize_t(args[4]);
    a->limit = PyLong_AsSsize_t(args[6]);
    if (PyErr_Occurred())
        return -1;
    a->s = (const char *)PyUnicode_1BYTE_DATA(text);
    a->n = PyUnicode_GET_LENGTH(text);
    a->win = PyBytes_AS_STRING(winobj);
    a->nwin = PyBytes_GET_SIZE(winobj);
    a->source = args[5];
    return 0;
}

/*
 * scan4(text, pos, win4, i4, line, source, limit) -> (items, pos, i4, line)
 *
 * text: the chunk ("\n" + content, latin-1 str); pos: index of a "\n" that starts a block;
 * win4: bytes, 1 for a winning block number; i4: number of the block at pos; line: the line
 * number of the text after text[pos]; source: the file name for the items; limit: return after
 * this many items (small batches die young, which keeps the garbage collector's work small).
 * Returns at the first block it does not accept, after `limit` items, or at the end of the
 * text: pos is then the next block's "\n" (or len(text)), i4 its number and line its line.
 */
static PyObject *
isc4_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ScanArgs a;
    if (scan_args(args, nargs, 7, "scan4(text, pos, win4, i4, line, source, limit)", S.ready,
                  &a) < 0)
        return NULL;
    const char *s = a.s, *win = a.win;
    Py_ssize_t n = a.n, nwin = a.nwin, pos = a.pos, i4 = a.i, line = a.line, limit = a.limit;
    PyObject *source = a.source;
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    Block b;
    Py_ssize_t built = 0;
    while (pos >= 0 && pos < n && i4 >= 0 && i4 < nwin && built < limit) {
        Py_ssize_t end = parse_block(s, n, pos, &b);
        if (end < 0)
            break;
        if (win[i4]) {
            PyObject *item = build(&b, source, line);
            if (item == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(items);
                    return NULL;
                }
                break;
            }
            built++;
            int rc = PyList_Append(items, item);
            Py_DECREF(item);
            if (rc < 0) {
                Py_DECREF(items);
                return NULL;
            }
        }
        i4++;
        line += b.lines + (end < n ? 1 : 0);
        pos = end;
    }
    return Py_BuildValue("(Nnnn)", items, pos, i4, line);
}


/* pass 1's keys of one chunk: fixed-width records in a growing buffer */
typedef struct {
    unsigned char *data;
    Py_ssize_t count, cap, width;
} Keys;

/* the (text, base) arguments of keys4 / keys6 and an empty Keys; 0, or -1 with an error set */
static int
keys_start(const char *usage, PyObject *const *args, Py_ssize_t nargs, const char **s,
           Py_ssize_t *n, Py_ssize_t *base, Keys *k, Py_ssize_t width)
{
    if (nargs != 2 || !PyUnicode_Check(args[0]) ||
        PyUnicode_KIND(args[0]) != PyUnicode_1BYTE_KIND) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    *base = PyLong_AsSsize_t(args[1]);
    if (*base == -1 && PyErr_Occurred())
        return -1;
    *s = (const char *)PyUnicode_1BYTE_DATA(args[0]);
    *n = PyUnicode_GET_LENGTH(args[0]);
    k->count = 0;
    k->cap = 1024;
    k->width = width;
    k->data = PyMem_Malloc(k->cap * width);
    if (k->data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* append one key; on failure the buffer is freed and an error set (-1) */
static int
keys_add(Keys *k, const void *key)
{
    if (k->count == k->cap) {
        unsigned char *grown = PyMem_Realloc(k->data, 2 * k->cap * k->width);
        if (grown == NULL) {
            PyMem_Free(k->data);
            PyErr_NoMemory();
            return -1;
        }
        k->data = grown;
        k->cap *= 2;
    }
    memcpy(k->data + k->count * k->width, key, k->width);
    k->count++;
    return 0;
}

/* the keys as bytes; frees the buffer */
static PyObject *
keys_bytes(Keys *k)
{
    PyObject *res = PyBytes_FromStringAndSize((const char *)k->data, k->count * k->width);
    PyMem_Free(k->data);
    return res;
}

/*
 * keys4(text, base) -> bytes: pass 1's key of every v4 lease block of a chunk, in order, as
 * native uint64 values. It finds exactly what the regex \nlease[ \t]+([^\s{]*) finds (findall);
 * a canonical dotted quad gives the address, anything else (1 << 32) + base + its index, as
 * _v4_keys in Python.
 */
static PyObject *
isc4_keys4(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const char *s;
    Py_ssize_t n, base;
    Keys keys;
    if (keys_start("keys4(text: latin-1 str, base: int)", args, nargs, &s, &n, &base, &keys,
                   sizeof(uint64_t)) < 0)
        return NULL;
    Py_ssize_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (nl == NULL)
            break;
        i = nl - s;
        if (n - i < 7 || memcmp(s + i + 1, "lease", 5) != 0 || (s[i + 6] != ' ' && s[i + 6] != '\t')) {
            i++;
            continue;
        }
        Py_ssize_t k = i + 6;
        while (k < n && (s[k] == ' ' || s[k] == '\t'))
            k++;
        Py_ssize_t a = k;
        while (k < n && s[k] != '{' && !is_space1((unsigned char)s[k]))
            k++;
        uint32_t ip;
        uint64_t key = parse_ipv4(s + a, k - a, &ip) ? ip : ((uint64_t)1 << 32) + base + keys.count;
        if (keys_add(&keys, &key) < 0)
            return NULL;
        i = k;
    }
    return keys_bytes(&keys);
}


/* ---------------------------------------------------------------------------------------- */
/* DHCPv6: dhcpd6.leases ia-na / ia-ta / ia-pd blocks                                         */
/*
 * scan6() walks consecutive blocks in dhcpd's own layout (server/db.c write_ia):
 *
 *     \nia-na "IAID+DUID" {\n  cltt W YYYY/MM/DD HH:MM:SS;\n  iaaddr ADDR {\n
 *         binding state S;\n    preferred-life N;\n    max-life N;\n    ends DATE;\n
 *         set NAME = "VALUE";\n  }\n}\n\n
 *
 * and builds for every winning iaaddr / iaprefix exactly the item _Pass2._ia / _build6 build
 * (an Extracted holding a Lease6). It accepts the IAID+DUID as a quoted string (octal, \" and
 * \\ escapes) or colon hex, only the statements above in that order, each at most once
 * (set lines excepted: ASCII values without escapes), canonical dates or "never", and values
 * for which _build6 takes its fast builder; the whole block is read before any item is built,
 * so a block it refuses is left whole to the Python parser.
 */

#define N_LEASE6 17
#define MAX_SUBS 16
#define MAX_SETS 8

static const char *LEASE6_SLOTS[N_LEASE6] = {
    "address", "duid", "iaid", "valid_lft", "cltt", "lease_type", "prefix_len", "preferred_lft",
    "subnet_id", "hostname", "fqdn_fwd", "fqdn_rev", "hwaddr", "state", "user_context",
    "origin", "line"};

static struct {
    int ready;
    PyTypeObject *lease_type, *addr_type;
    Py_ssize_t lease_off[N_LEASE6], ip_off, scope_off;
    PyObject *types[3]; /* "IA_NA", "IA_TA", "IA_PD" */
    PyObject *k_iaid_duid, *k_pref, *k_max, *k_server_duid, *k_set;
} S6;

/* init6(Lease6, IPv6Address) -> bool: whether scan6 can build these classes (after init) */
static PyObject *
isc6_init(PyObject *self, PyObject *args)
{
    PyTypeObject *lease, *addr;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &lease, &PyType_Type, &addr))
        return NULL;
    S6.ready = 0;
    if (!S.ready || !slots_match(lease, LEASE6_SLOTS, N_LEASE6))
        Py_RETURN_FALSE;
    for (int i = 0; i < N_LEASE6; i++)
        if (!slot_offset(lease, LEASE6_SLOTS[i], &S6.lease_off[i]))
            Py_RETURN_FALSE;
    if (!slot_offset(addr, "_ip", &S6.ip_off) || !slot_offset(addr, "_scope_id", &S6.scope_off))
        Py_RETURN_FALSE;
    if (lease->tp_itemsize || addr->tp_itemsize)
        Py_RETURN_FALSE;
    Py_INCREF(lease);
    Py_INCREF(addr);
    Py_XSETREF(S6.lease_type, lease);
    Py_XSETREF(S6.addr_type, addr);
    S6.ready = 1;
    Py_RETURN_TRUE;
}

static inline int
addr_char(char c)
{
    return hexval(c) >= 0 || c == ':' || c == '.';
}

/* The plain forms of an IPv6 address in p[0..n): groups of 1-4 hex digits, 8 of them or at
 * most 7 with one "::", no dotted quad. 0 for anything else (inet_pton then decides: it gives
 * every plain form the same value, and is about 5x slower). */
static int
plain_ipv6(const char *p, Py_ssize_t n, unsigned char *out)
{
    unsigned g[8];
    int ng = 0, gap = -1;
    Py_ssize_t i = 0;
    if (n >= 2 && p[0] == ':' && p[1] == ':') {
        gap = 0;
        i = 2;
    }
    while (i < n) {
        unsigned v = 0;
        int d = 0, h;
        while (i < n && d < 4 && (h = hexval(p[i])) >= 0) {
            v = v * 16 + (unsigned)h;
            i++;
            d++;
        }
        if (d == 0 || ng == 8)
            return 0;
        g[ng++] = v;
        if (i == n)
            break;
        if (p[i] != ':' || i + 1 == n)
            return 0;
        i++;
        if (p[i] == ':') {
            if (gap >= 0)
                return 0;
            gap = ng;
            i++;
        }
    }
    if (gap < 0 ? ng != 8 : ng > 7)
        return 0;
    memset(out, 0, 16);
    int head = gap < 0 ? ng : gap;
    for (int k = 0; k < ng; k++) {
        int at = k < head ? k : 8 - ng + k;
        out[2 * at] = (unsigned char)(g[k] >> 8);
        out[2 * at + 1] = (unsigned char)(g[k] & 0xff);
    }
    return 1;
}

/* socket.inet_pton(AF_INET6, p[0..n)) for latin-1 text p: 1 and the bytes, or 0 where it
 * raises (Python passes the text as UTF-8, so a NUL or a non-ASCII character fails) */
static int
inet_pton6(const char *p, Py_ssize_t n, unsigned char *out)
{
    if (plain_ipv6(p, n, out))
        return 1;
    char buf[64]; /* the longest address inet_pton accepts has 45 characters */
    if (n >= (Py_ssize_t)sizeof(buf))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] == 0 || (unsigned char)p[i] >= 0x80)
            return 0;
    memcpy(buf, p, n);
    buf[n] = 0;
    return inet_pton(AF_INET6, buf, out) == 1;
}

/* ADDR of an iaaddr / iaprefix in scan6: only hex digits, ':' and '.' */
static int
parse_ipv6(const char *p, Py_ssize_t n, unsigned char *out)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (!addr_char(p[i]))
            return 0;
    return inet_pton6(p, n, out);
}

/* p[0..n) is 1-3 ASCII digits; value in *out */
static int
small_dec(const char *p, Py_ssize_t n, int *out)
{
    return n >= 1 && n <= 3 && dec(p, (int)n, out);
}

/* a u32 in plain ASCII decimal (int() of it gives the same) */
static int
parse_u32(const char *p, Py_ssize_t n, int64_t *out)
{
    if (n < 1 || n > 10)
        return 0;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!dig(p[i]))
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    if (v > 0xFFFFFFFFLL)
        return 0;
    *out = v;
    return 1;
}

typedef struct {
    int prefix;            /* iaprefix */
    unsigned char ip[16];
    int plen;
    int state;             /* index in STATES; -1: not written ("active") */
    int64_t pref, max, ends; /* ABSENT when not written; ends may be NEVER */
    int nsets;
    const char *set_name[MAX_SETS], *set_val[MAX_SETS];
    Py_ssize_t set_name_n[MAX_SETS], set_val_n[MAX_SETS];
    const char *host;      /* the last set ddns-fwd-name value, or NULL */
    Py_ssize_t host_n;
    int64_t cltt, valid;   /* the lease's, by _build6's lifetime rule */
    Py_ssize_t line;
} Sub;

typedef struct {
    int type;              /* 0 ia-na, 1 ia-ta, 2 ia-pd */
    const char *ident;     /* the IAID+DUID token as written (quotes included) */
    Py_ssize_t ident_n;
    unsigned char raw[256];
    int raw_n;
    int64_t cltt;          /* the IA's cltt; ABSENT when not written or "never" */
    int nsubs;
    Sub subs[MAX_SUBS];
} IA;

/* the line s[i..) up to its '\n' must be KW VALUE ";"; returns the value's length (the value
 * starts at i + kwlen) and sets *eol to the '\n', or -1 */
static Py_ssize_t
stmt_value(const char *s, Py_ssize_t n, Py_ssize_t i, const char *kw, Py_ssize_t kwlen,
           Py_ssize_t *eol)
{
    if (n - i < kwlen || memcmp(s + i, kw, kwlen) != 0)
        return -1;
    const char *nl = memchr(s + i + kwlen, '\n', n - i - kwlen);
    if (nl == NULL)
        return -1;
    Py_ssize_t e = nl - s;
    if (e - (i + kwlen) < 2 || s[e - 1] != ';')
        return -1;
    *eol = e;
    return e - 1 - (i + kwlen);
}

#define STARTS(lit) (n - i >= (Py_ssize_t)sizeof(lit) - 1 && memcmp(s + i, lit, sizeof(lit) - 1) == 0)

/* "    set NAME = "VALUE";" with NAME in [A-Za-z0-9_-], VALUE printable ASCII without
 * " \ { } # ; -> 1 and the spans, else 0 */
static int
set_line(const char *s, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *eol, const char **name,
         Py_ssize_t *name_n, const char **val, Py_ssize_t *val_n)
{
    if (!STARTS("    set "))
        return 0;
    Py_ssize_t k = i + 8, a = k;
    while (k < n && (dig(s[k]) || (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
                     s[k] == '-' || s[k] == '_'))
        k++;
    if (k == a || n - k < 4 || memcmp(s + k, " = \"", 4) != 0)
        return 0;
    *name = s + a;
    *name_n = k - a;
    k += 4;
    Py_ssize_t v = k;
    while (k < n && s[k] >= 0x20 && s[k] < 0x7f && !strchr("\"\\{}#;", s[k]))
        k++;
    if (n - k < 3 || s[k] != '"' || s[k + 1] != ';' || s[k + 2] != '\n')
        return 0;
    *val = s + v;
    *val_n = k - v;
    *eol = k + 2;
    return 1;
}

/* one "  iaaddr ADDR {" / "  iaprefix ADDR/LEN {" sub-block starting at s[i] (its line);
 * returns the index of the '\n' after its "  }", or -1 */
static Py_ssize_t
parse_sub(const char *s, Py_ssize_t n, Py_ssize_t i, Sub *u, Py_ssize_t *line)
{
    if (STARTS("  iaaddr "))
        u->prefix = 0, i += 9;
    else if (STARTS("  iaprefix "))
        u->prefix = 1, i += 11;
    else
        return -1;
    Py_ssize_t a = i;
    while (i < n && s[i] != ' ' && s[i] != '\n')
        i++;
    if (n - i < 3 || memcmp(s + i, " {\n", 3) != 0)
        return -1;
    Py_ssize_t an = i - a;
    if (u->prefix) {
        const char *slash = memchr(s + a, '/', an);
        if (slash == NULL)
            return -1;
        Py_ssize_t alen = slash - (s + a);
        if (!small_dec(slash + 1, an - alen - 1, &u->plen) || !parse_ipv6(s + a, alen, u->ip))
            return -1;
    }
    else {
        u->plen = 128;
        if (!parse_ipv6(s + a, an, u->ip))
            return -1;
    }
    i += 2; /* the '\n' */
    u->state = -1;
    u->pref = u->max = u->ends = ABSENT;
    u->nsets = 0;
    u->host = NULL;
    int stage = 0;
    for (;;) {
        i++; /* the first character of the next line */
        (*line)++;
        Py_ssize_t eol, vn;
        if (STARTS("  }\n"))
            return i + 3;
        if (stage <= 0 && (vn = stmt_value(s, n, i, "    binding state ", 18, &eol)) >= 0) {
            u->state = known_state(s + i + 18, vn);
            if (u->state < 0)
                return -1;
            stage = 1;
        }
        else if (stage <= 1 && (vn = stmt_value(s, n, i, "    preferred-life ", 19, &eol)) >= 0) {
            if (!parse_u32(s + i + 19, vn, &u->pref))
                return -1;
            stage = 2;
        }
        else if (stage <= 2 && (vn = stmt_value(s, n, i, "    max-life ", 13, &eol)) >= 0) {
            if (!parse_u32(s + i + 13, vn, &u->max))
                return -1;
            stage = 3;
        }
        else if (stage <= 3 && (vn = stmt_value(s, n, i, "    ends ", 9, &eol)) >= 0) {
            if (!parse_date(s + i + 9, vn, &u->ends))
                return -1;
            stage = 4;
        }
        else {
            int k = u->nsets;
            if (k >= MAX_SETS || !set_line(s, n, i, &eol, &u->set_name[k], &u->set_name_n[k],
                                           &u->set_val[k], &u->set_val_n[k]))
                return -1;
            if (u->set_name_n[k] == 13 && memcmp(u->set_name[k], "ddns-fwd-name", 13) == 0) {
                u->host = u->set_val[k];
                u->host_n = u->set_val_n[k];
            }
            u->nsets++;
            stage = 5;
        }
        i = eol;
    }
}

/* _build6's lifetime rule; 0 when the values need the validating constructor (it reports) */
static int
lifetimes6(Sub *u, int64_t ia_cltt)
{
    int64_t base = ia_cltt, ends = u->ends;
    if (ends == NEVER) {
        u->valid = INFINITE_LIFETIME;
        u->cltt = base != ABSENT ? base : 0;
    }
    else if (ends == ABSENT) {
        u->cltt = base != ABSENT ? base : 0;
        u->valid = u->max != ABSENT ? u->max : 0;
    }
    else {
        if (base == ABSENT && u->max != ABSENT && ends - u->max >= 0)
            base = ends - u->max;
        if (base == ABSENT || ends <= base) {
            u->cltt = ends;
            u->valid = 0;
        }
        else {
            u->cltt = base;
            u->valid = ends - base < INFINITE_LIFETIME ? ends - base : INFINITE_LIFETIME;
        }
    }
    if (u->cltt < 0 || u->cltt > INFINITE_LIFETIME || u->valid < 0 || u->valid > INFINITE_LIFETIME)
        return 0;
    if (u->plen < 1 || u->plen > 128)
        return 0;
    for (int b = u->plen; b < 128; b++) /* host bits of a delegated prefix must be zero */
        if (u->ip[b / 8] & (0x80 >> (b % 8)))
            return 0;
    return 1;
}

/* Parse the IA block whose "\n" is s[pos]. Returns the index just after its "}" or -1;
 * *line is the header's line on entry and the "}" line's on return. */
static Py_ssize_t
parse_ia(const char *s, Py_ssize_t n, Py_ssize_t pos, IA *ia, Py_ssize_t *line)
{
    Py_ssize_t i = pos + 1;
    if (STARTS("ia-na "))
        ia->type = 0;
    else if (STARTS("ia-ta "))
        ia->type = 1;
    else if (STARTS("ia-pd "))
        ia->type = 2;
    else
        return -1;
    i += 6;
    Py_ssize_t a = i;
    if (i < n && s[i] == '"') {
        i++;
        while (i < n && s[i] != '"' && s[i] != '\n')
            i += s[i] == '\\' ? 2 : 1;
        if (i >= n || s[i] != '"')
            return -1;
        i++;
    }
    else
        while (i < n && s[i] != ' ' && s[i] != '\n')
            i++;
    if (n - i < 3 || memcmp(s + i, " {\n", 3) != 0)
        return -1;
    ia->ident = s + a;
    ia->ident_n = i - a;
    /* "{" ... "}" in the id with "#" after could make the header a one-line block to
     * Python (_one_line): leave such a block to it */
    for (Py_ssize_t k = ia->ident_n - 1; k >= 0; k--)
        if (ia->ident[k] == '}') {
            if (memchr(ia->ident, '{', k) == NULL)
                break;
            Py_ssize_t j = k + 1;
            while (a + j < i + 2 && is_space1((unsigned char)s[a + j]))
                j++;
            if (a + j < i + 2 && s[a + j] == '#')
                return -1;
            break;
        }
    ia->raw_n = parse_uid(ia->ident, ia->ident_n, ia->raw);
    if (ia->raw_n < 5 || ia->raw_n > 134)
        return -1;
    i += 2; /* the '\n' */
    int64_t ia_cltt = ABSENT;
    ia->nsubs = 0;
    Py_ssize_t ln = *line;
    int seen_cltt = 0;
    for (;;) {
        i++;
        ln++;
        Py_ssize_t eol, vn;
        if (i < n && s[i] == '}') {
            if (i + 1 < n && s[i + 1] != '\n')
                return -1;
            break;
        }
        if (!seen_cltt && ia->nsubs == 0 && (vn = stmt_value(s, n, i, "  cltt ", 7, &eol)) >= 0) {
            if (!parse_date(s + i + 7, vn, &ia_cltt))
                return -1;
            if (ia_cltt == NEVER)
                ia_cltt = ABSENT;
            seen_cltt = 1;
            i = eol;
            continue;
        }
        if (ia->nsubs >= MAX_SUBS)
            return -1;
        Sub *u = &ia->subs[ia->nsubs];
        u->line = ln;
        eol = parse_sub(s, n, i, u, &ln);
        if (eol < 0)
            return -1;
        /* an iaprefix only in ia-pd, an iaaddr only in ia-na / ia-ta */
        if (u->prefix != (ia->type == 2))
            return -1;
        ia->nsubs++;
        i = eol;
    }
    for (int k = 0; k < ia->nsubs; k++)
        if (!lifetimes6(&ia->subs[k], ia_cltt))
            return -1;
    ia->cltt = ia_cltt;
    *line = ln;
    return i + 1;
}

static const char *BLOCK_WORDS[] = {"lease", "ia-na", "ia-ta", "ia-pd", "failover", "host",
                                    "group", "class", "subclass"};
#define N_BLOCK_WORDS 9

/* s[i..) starts with a top-level block word and a blank (the regexes' BLOCK_WORDS[ \t]):
 * its length, *code the IA type (0-2) or -1; 0 when it does not */
static Py_ssize_t
block_word(const char *s, Py_ssize_t n, Py_ssize_t i, int *code)
{
    if (i >= n || !strchr("lifhgcs", s[i]) || s[i] == 0)
        return 0;
    for (int w = 0; w < N_BLOCK_WORDS; w++) {
        Py_ssize_t len = (Py_ssize_t)strlen(BLOCK_WORDS[w]);
        if (n - i > len && memcmp(s + i, BLOCK_WORDS[w], len) == 0 &&
            (s[i + len] == ' ' || s[i + len] == '\t')) {
            *code = (w >= 1 && w <= 3) ? w - 1 : -1;
            return len;
        }
    }
    return 0;
}

/* PyLong_FromLongLong through a small direct-mapped cache: lifetimes repeat from lease to
 * lease, and a lease's valid lifetime and cltt are often its max-life and its IA's cltt */
static PyObject *int_cache_obj[64];
static int64_t int_cache_val[64];

static PyObject *
cached_int(int64_t v)
{
    unsigned k = (unsigned)(((uint64_t)v * 0x9E3779B97F4A7C15ULL) >> 58);
    if (int_cache_obj[k] != NULL && int_cache_val[k] == v)
        return Py_NewRef(int_cache_obj[k]);
    PyObject *o = PyLong_FromLongLong(v);
    if (o != NULL) {
        Py_XSETREF(int_cache_obj[k], Py_NewRef(o));
        int_cache_val[k] = v;
    }
    return o;
}

static PyObject *
item6(const IA *ia, const Sub *u, PyObject *source, PyObject *ident, PyObject *duid,
      PyObject *iaid, PyObject *server_duid)
{
    PyObject *extra = _PyDict_NewPresized(7), *lease = NULL, *item = NULL, *o = NULL, *sets = NULL;
    if (extra == NULL)
        return NULL;
#define PUT(key, expr)                                                                         \
    do {                                                                                       \
        o = (expr);                                                                            \
        if (o == NULL || PyDict_SetItem(extra, (key), o) < 0)                                  \
            goto fail;                                                                         \
        Py_CLEAR(o);                                                                           \
    } while (0)
    PUT(S6.k_iaid_duid, Py_NewRef(ident));
    if (u->pref != ABSENT)
        PUT(S6.k_pref, cached_int(u->pref));
    if (u->max != ABSENT)
        PUT(S6.k_max, cached_int(u->max));
    if (u->ends != ABSENT)
        PUT(S.k_ends, time_or_none(u->ends));
    if (ia->cltt != ABSENT)
        PUT(S.k_cltt, cached_int(ia->cltt));
    if (server_duid != Py_None)
        PUT(S6.k_server_duid, Py_NewRef(server_duid));
    PyObject *hostname = NULL;
    if (u->nsets) {
        sets = PyDict_New();
        if (sets == NULL)
            goto fail;
        for (int k = 0; k < u->nsets; k++) {
            PyObject *name = ascii_str(u->set_name[k], u->set_name_n[k]);
            PyObject *val = name ? ascii_str(u->set_val[k], u->set_val_n[k]) : NULL;
            int rc = val ? PyDict_SetItem(sets, name, val) : -1;
            Py_XDECREF(name);
            Py_XDECREF(val);
            if (rc < 0)
                goto fail;
        }
        PUT(S6.k_set, Py_NewRef(sets));
        if (u->host) {
            /* the very string of the set dict, as in Python */
            PyObject *key = ascii_str("ddns-fwd-name", 13);
            if (key == NULL)
                goto fail;
            hostname = PyDict_GetItemWithError(sets, key);
            Py_DECREF(key);
            if (hostname == NULL)
                goto fail;
            Py_INCREF(hostname);
        }
    }
    if (hostname == NULL)
        hostname = Py_NewRef(S.empty);

    PyObject *addr = new_instance(S6.addr_type);
    PyObject *ip = _PyLong_FromByteArray(u->ip, 16, 0, 0);
    PyObject *vl = cached_int(u->valid), *ct = cached_int(u->cltt);
    PyObject *pl = PyLong_FromLong(u->plen), *pf = cached_int(u->pref != ABSENT ? u->pref : 0);
    PyObject *ln = PyLong_FromSsize_t(u->line);
    lease = new_instance(S6.lease_type);
    if (!addr || !ip || !vl || !ct || !pl || !pf || !ln || !lease) {
        Py_XDECREF(addr);
        Py_XDECREF(ip);
        Py_XDECREF(vl);
        Py_XDECREF(ct);
        Py_XDECREF(pl);
        Py_XDECREF(pf);
        Py_XDECREF(ln);
        Py_DECREF(hostname);
        goto fail; /* lease, if any, has only NULL slots */
    }
    SETSLOT(addr, S6.ip_off, ip);
    SETSLOT(addr, S6.scope_off, Py_NewRef(Py_None));
    /* every slot is set before anything can fail, so a half-built lease is never seen;
       in LEASE6_SLOTS order */
    PyObject *fields[N_LEASE6] = {
        addr, Py_NewRef(duid), Py_NewRef(iaid), vl, ct, Py_NewRef(S6.types[ia->type]), pl, pf,
        Py_NewRef(S.zero), hostname, Py_NewRef(Py_False), Py_NewRef(Py_False), Py_NewRef(Py_None),
        Py_NewRef(S.zero), Py_NewRef(Py_None), Py_NewRef(source), Py_NewRef(ln)};
    set_slots(lease, S6.lease_off, fields, N_LEASE6);
    item = new_extracted(lease, u->state >= 0 ? S.states[u->state] : S.states[0], source, ln,
                         extra);
    if (item == NULL)
        goto fail;
    Py_XDECREF(sets);
    return item;
#undef PUT

fail:
    Py_XDECREF(o);
    Py_XDECREF(sets);
    Py_XDECREF(lease);
    Py_DECREF(extra);
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    return NULL;
}

/*
 * scan6(text, pos, win6, i6, line, source, limit, big_endian, server_duid)
 *     -> (items, pos, i6, line)
 *
 * As scan4 for ia-na / ia-ta / ia-pd blocks: win6 has one byte per iaaddr / iaprefix (pass 1's
 * keys, in order), i6 is the number of the first iaaddr / iaprefix at pos; big_endian says how
 * the IAID is read (authoring-byte-order), server_duid is the file's server-duid so far (str or
 * None). Blank lines between blocks are passed over. A block is taken only when what follows
 * it is the next block or the end of the text (pass 2 counts an iaaddr line before the next
 * block as the IA's).
 */
static PyObject *
isc6_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ScanArgs a;
    if (scan_args(args, nargs, 9,
                  "scan6(text, pos, win6, i6, line, source, limit, big_endian, server_duid)",
                  S6.ready, &a) < 0)
        return NULL;
    PyObject *server_duid = args[8];
    if (server_duid != Py_None && !PyUnicode_Check(server_duid)) {
        PyErr_SetString(PyExc_TypeError, "scan6: server_duid must be a str or None");
        return NULL;
    }
    int big = PyObject_IsTrue(args[7]);
    if (big < 0)
        return NULL;
    const char *s = a.s, *win = a.win;
    Py_ssize_t n = a.n, nwin = a.nwin, pos = a.pos, i6 = a.i, line = a.line, limit = a.limit;
    PyObject *source = a.source;
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    IA *ia = PyMem_Malloc(sizeof(IA));
    if (ia == NULL) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    Py_ssize_t built = 0;
    while (pos >= 0 && pos < n && s[pos] == '\n' && i6 >= 0 && built < limit) {
        Py_ssize_t p = pos, ln = line;
        while (p + 1 < n && s[p + 1] == '\n') {
            p++;
            ln++;
        }
        pos = p;
        line = ln;
        Py_ssize_t end = parse_ia(s, n, p, ia, &ln);
        if (end < 0 || ia->nsubs > nwin - i6)
            break;
        Py_ssize_t q = end;
        while (q + 1 < n && s[q + 1] == '\n')
            q++;
        int code;
        if (q < n - 1 && !block_word(s, n, q + 1, &code))
            break;
        PyObject *ident = NULL, *duid = NULL, *iaid = NULL;
        for (int k = 0; k < ia->nsubs; k++) {
            if (!win[i6 + k])
                continue;
            if (ident == NULL) {
                const unsigned char *r = ia->raw;
                uint32_t v = big ? ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3])
                                 : ((uint32_t)r[3] << 24 | (uint32_t)r[2] << 16 | (uint32_t)r[1] << 8 | r[0]);
                ident = PyUnicode_DecodeLatin1(ia->ident, ia->ident_n, NULL);
                duid = hex_colon(ia->raw + 4, ia->raw_n - 4);
                iaid = PyLong_FromUnsignedLong(v);
                if (!ident || !duid || !iaid)
                    goto error;
            }
            PyObject *item = item6(ia, &ia->subs[k], source, ident, duid, iaid, server_duid);
            if (item == NULL)
                goto error;
            int rc = PyList_Append(items, item);
            Py_DECREF(item);
            if (rc < 0)
                goto error;
            built++;
            continue;
        error:
            Py_XDECREF(ident);
            Py_XDECREF(duid);
            Py_XDECREF(iaid);
            Py_DECREF(items);
            PyMem_Free(ia);
            return NULL;
        }
        Py_XDECREF(ident);
        Py_XDECREF(duid);
        Py_XDECREF(iaid);
        i6 += ia->nsubs;
        pos = end;
        line = ln + (end < n ? 1 : 0);
    }
    PyMem_Free(ia);
    return Py_BuildValue("(Nnnn)", items, pos, i6, line);
}

/*
 * keys6(text, base) -> bytes | None: pass 1's keys of a chunk's iaaddr / iaprefix lines, as
 * _v6_keys builds them (18 bytes each: address, IA type code, prefix length; 0xff + a unique
 * number for one that names no address). It finds what the regex _V6_SCAN finds. None when a
 * prefix length is written in a form only int() can judge ("+64", "6_4", "0064"): Python
 * then reads the chunk.
 */
static PyObject *
isc6_keys6(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const char *s;
    Py_ssize_t n, base;
    Keys keys;
    if (keys_start("keys6(text: latin-1 str, base: int)", args, nargs, &s, &n, &base, &keys,
                   18) < 0)
        return NULL;
    int code = -1;
    Py_ssize_t i = 0;
    while (i < n) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (nl == NULL)
            break;
        i = nl - s + 1;
        int wcode;
        Py_ssize_t wl = block_word(s, n, i, &wcode);
        if (wl) {
            code = wcode;
            i += wl + 1;
            continue;
        }
        Py_ssize_t k = i;
        while (k < n && (s[k] == ' ' || s[k] == '\t'))
            k++;
        if (k == i)
            continue;
        int prefix;
        if (n - k >= 6 && memcmp(s + k, "iaaddr", 6) == 0)
            prefix = 0, k += 6;
        else if (n - k >= 8 && memcmp(s + k, "iaprefix", 8) == 0)
            prefix = 1, k += 8;
        else
            continue;
        Py_ssize_t m = k;
        while (m < n && (s[m] == ' ' || s[m] == '\t'))
            m++;
        if (m == k)
            continue;
        Py_ssize_t t = m;
        while (t < n && s[t] != '{' && !is_space1((unsigned char)s[t]))
            t++;
        i = t;
        if (code < 0)
            continue;
        /* the key of token s[m..t) */
        unsigned char key[18];
        Py_ssize_t alen = t - m;
        int plen = 128, ok = 1;
        if (prefix) {
            const char *slash = memchr(s + m, '/', t - m);
            if (slash == NULL)
                ok = 0;
            else {
                alen = slash - (s + m);
                const char *ps = slash + 1;
                Py_ssize_t pn = s + t - ps;
                if (small_dec(ps, pn, &plen))
                    ok = plen <= 128;
                else {
                    /* int() takes a sign, '_' between digits and leading zeros too */
                    int odd = pn > 0;
                    for (Py_ssize_t j = 0; j < pn && odd; j++)
                        odd = dig(ps[j]) || ps[j] == '+' || ps[j] == '-' || ps[j] == '_';
                    if (odd) {
                        PyMem_Free(keys.data);
                        Py_RETURN_NONE;
                    }
                    ok = 0;
                }
            }
        }
        if (ok)
            ok = inet_pton6(s + m, alen, key);
        if (ok) {
            key[16] = (unsigned char)code;
            key[17] = (unsigned char)plen;
        }
        else {
            uint64_t u = (uint64_t)(base + keys.count);
            memset(key, 0, 18);
            key[0] = 0xff;
            for (int j = 0; j < 8; j++)
                key[17 - j] = (unsigned char)(u >> (8 * j));
        }
        if (keys_add(&keys, key) < 0)
            return NULL;
    }
    return keys_bytes(&keys);
}

/* line_starts(text) -> int: 1 when a line of text starts with "host", "group", "class" or
 * "subclass" (pass 1 then reads such blocks), | 2 when one starts with "ia-" (an IA block):
 * one walk over the lines instead of five substring searches of the chunk */
static PyObject *
isc_line_starts(PyObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text) || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        PyErr_SetString(PyExc_TypeError, "line_starts(text: latin-1 str)");
        return NULL;
    }
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
    static const char *const words[] = {"host", "group", "class", "subclass"};
    long flags = 0;
    while (i < n && flags != 3) {
        const char *nl = memchr(s + i, '\n', n - i);
        if (nl == NULL)
            break;
        i = nl - s + 1;
        if (i >= n)
            break;
        char c = s[i];
        if (c == 'i') {
            if (n - i >= 3 && s[i + 1] == 'a' && s[i + 2] == '-')
                flags |= 2;
        }
        else if (c == 'h' || c == 'g' || c == 'c' || c == 's')
            for (int w = 0; w < 4; w++) {
                Py_ssize_t len = (Py_ssize_t)strlen(words[w]);
                if (n - i >= len && memcmp(s + i, words[w], len) == 0)
                    flags |= 1;
            }
    }
    return PyLong_FromLong(flags);
}

/*
 * last_keys(keys, width) -> bytes: for n keys of `width` bytes each (any contiguous buffer),
 * one byte per key, 1 where no later key is equal: what _last_occurrence computes with
 * np.unique, in one pass over a hash set (the sort np.unique needs for 18-byte keys compares
 * them one memcmp at a time, several times slower).
 */
static PyObject *
isc_last_keys(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "last_keys(keys, width)");
        return NULL;
    }
    Py_ssize_t width = PyLong_AsSsize_t(args[1]);
    if (width == -1 && PyErr_Occurred())
        return NULL;
    if (width < 1 || width > 64) {
        PyErr_SetString(PyExc_ValueError, "last_keys: width must be 1..64");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (view.len % width != 0 || view.len / width > INT32_MAX / 2) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "last_keys: not a whole number of keys");
        return NULL;
    }
    Py_ssize_t n = view.len / width;
    const unsigned char *k = view.buf;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    Py_ssize_t size = 16;
    while (size < 2 * n)
        size *= 2;
    int32_t *table = out ? PyMem_Malloc(size * sizeof(int32_t)) : NULL;
    if (table == NULL) {
        PyBuffer_Release(&view);
        Py_XDECREF(out);
        return out ? PyErr_NoMemory() : NULL;
    }
    memset(table, 0xff, size * sizeof(int32_t)); /* -1: empty */
    char *mask = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        const unsigned char *key = k + i * width;
        uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a final mix */
        for (Py_ssize_t j = 0; j < width; j++)
            h = (h ^ key[j]) * 0x100000001b3ULL;
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 32;
        Py_ssize_t slot = (Py_ssize_t)(h & (uint64_t)(size - 1));
        mask[i] = 1;
        for (;;) {
            int32_t at = table[slot];
            if (at < 0) {
                table[slot] = (int32_t)i;
                break;
            }
            if (memcmp(k + (Py_ssize_t)at * width, key, width) == 0) {
                mask[i] = 0; /* a later key is equal */
                break;
            }
            slot = (slot + 1) & (size - 1);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(table);
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"init", isc4_init, METH_VARARGS, "init(Extracted, Lease4, IPv4Address, tail) -> bool"},
    {"scan4", (PyCFunction)(void (*)(void))isc4_scan, METH_FASTCALL,
     "scan4(text, pos, win4, i4, line, source, limit) -> (items, pos, i4, line)"},
    {"keys4", (PyCFunction)(void (*)(void))isc4_keys4, METH_FASTCALL,
     "keys4(text, base) -> bytes of native uint64 keys"},
    {"line_starts", isc_line_starts, METH_O, "line_starts(text) -> int (1: host/group/class, 2: ia-)"},
    {"last_keys", (PyCFunction)(void (*)(void))isc_last_keys, METH_FASTCALL,
     "last_keys(keys, width) -> bytes, 1 for the last occurrence of each key"},
    {"init6", isc6_init, METH_VARARGS, "init6(Lease6, IPv6Address) -> bool"},
    {"scan6", (PyCFunction)(void (*)(void))isc6_scan, METH_FASTCALL,
     "scan6(text, pos, win6, i6, line, source, limit, big_endian, server_duid) -> (items, pos, i6, line)"},
    {"keys6", (PyCFunction)(void (*)(void))isc6_keys6, METH_FASTCALL,
     "keys6(text, base) -> bytes of 18-byte keys, or None"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_isc4",
                                    "C fast path for dhcpd.leases v4 and dhcpd6.leases blocks (internal).", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__isc4(void)
{
    for (int k = 0; k < N_ST; k++)
        KWLEN[k] = (Py_ssize_t)strlen(KW[k]);
    for (int i = 0; i < N_STATES; i++) {
        S.states[i] = PyUnicode_InternFromString(STATES[i]);
        if (S.states[i] == NULL)
            return NULL;
    }
#define KEY(f, s)                                                                             \
    if ((S.f = PyUnicode_InternFromString(s)) == NULL)                                        \
        return NULL;
    KEY(k_starts, "starts")
    KEY(k_ends, "ends")
    KEY(k_tstp, "tstp")
    KEY(k_tsfp, "tsfp")
    KEY(k_atsfp, "atsfp")
    KEY(k_cltt, "cltt")
    KEY(k_next, "next-binding-state")
    KEY(k_rewind, "rewind-binding-state")
    KEY(k_host, "client-hostname")
    KEY(empty, "")
#undef KEY
#define KEY6(f, s)                                                                            \
    if ((S6.f = PyUnicode_InternFromString(s)) == NULL)                                       \
        return NULL;
    KEY6(types[0], "IA_NA")
    KEY6(types[1], "IA_TA")
    KEY6(types[2], "IA_PD")
    KEY6(k_iaid_duid, "iaid-duid")
    KEY6(k_pref, "preferred-life")
    KEY6(k_max, "max-life")
    KEY6(k_server_duid, "server-duid")
    KEY6(k_set, "set")
#undef KEY6
    S.zero = PyLong_FromLong(0);
    if (S.zero == NULL)
        return NULL;
    return PyModule_Create(&module);
}
