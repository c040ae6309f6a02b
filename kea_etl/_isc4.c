/*
 * kea_etl._isc4 -- C fast path for dhcpd.leases v4 lease blocks in dhcpd's own layout.
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

#define N_EXT 5
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

static int
slots_match(PyTypeObject *tp, const char **names, int n)
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
    int ok = PyTuple_GET_SIZE(t) == n;
    for (int i = 0; ok && i < n; i++) {
        PyObject *s = PyTuple_GET_ITEM(t, i);
        ok = PyUnicode_Check(s) && PyUnicode_CompareWithASCIIString(s, names[i]) == 0;
    }
    Py_DECREF(t);
    return ok;
}

/* init(Extracted, Lease4, IPv4Address) -> bool: whether scan4 can build these classes */
static PyObject *
isc4_init(PyObject *self, PyObject *args)
{
    PyTypeObject *ext, *lease, *addr;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyType_Type, &ext, &PyType_Type, &lease,
                          &PyType_Type, &addr))
        return NULL;
    S.ready = 0;
    if (!slots_match(ext, EXT_SLOTS, N_EXT) || !slots_match(lease, LEASE_SLOTS, N_LEASE))
        Py_RETURN_FALSE;
    for (int i = 0; i < N_EXT; i++)
        if (!slot_offset(ext, EXT_SLOTS[i], &S.ext_off[i]))
            Py_RETURN_FALSE;
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
    SETSLOT(lease, S.lease_off[0], addr);
    SETSLOT(lease, S.lease_off[1], hw);
    SETSLOT(lease, S.lease_off[2], vl);
    SETSLOT(lease, S.lease_off[3], ct);
    SETSLOT(lease, S.lease_off[4], cid);
    SETSLOT(lease, S.lease_off[5], Py_NewRef(S.zero));
    SETSLOT(lease, S.lease_off[6], hostname);
    SETSLOT(lease, S.lease_off[7], Py_NewRef(Py_False));
    SETSLOT(lease, S.lease_off[8], Py_NewRef(Py_False));
    SETSLOT(lease, S.lease_off[9], Py_NewRef(S.zero));
    SETSLOT(lease, S.lease_off[10], Py_NewRef(Py_None));
    SETSLOT(lease, S.lease_off[11], Py_NewRef(source));
    SETSLOT(lease, S.lease_off[12], Py_NewRef(ln));

    item = new_instance(S.ext_type);
    if (item == NULL) {
        Py_DECREF(ln);
        goto fail;
    }
    SETSLOT(item, S.ext_off[0], lease);
    SETSLOT(item, S.ext_off[1], Py_NewRef(S.states[b->state]));
    SETSLOT(item, S.ext_off[2], Py_NewRef(source));
    SETSLOT(item, S.ext_off[3], ln);
    SETSLOT(item, S.ext_off[4], extra);
    return item;

fail:
    Py_XDECREF(lease);
    Py_DECREF(extra);
    if (!PyErr_Occurred())
        PyErr_NoMemory();
    return NULL;
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
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "scan4(text, pos, win4, i4, line, source, limit)");
        return NULL;
    }
    PyObject *text = args[0], *winobj = args[2], *source = args[5];
    if (!S.ready) {
        PyErr_SetString(PyExc_RuntimeError, "kea_etl._isc4.init() was not accepted");
        return NULL;
    }
    if (!PyUnicode_Check(text) || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND ||
        !PyBytes_Check(winobj) || !PyUnicode_Check(source)) {
        PyErr_SetString(PyExc_TypeError, "scan4: text must be a latin-1 str, win4 bytes");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t i4 = PyLong_AsSsize_t(args[3]);
    Py_ssize_t line = PyLong_AsSsize_t(args[4]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[6]);
    if (PyErr_Occurred())
        return NULL;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const char *win = PyBytes_AS_STRING(winobj);
    Py_ssize_t nwin = PyBytes_GET_SIZE(winobj);
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

/* Py_UNICODE_ISSPACE for latin-1 text (what the re module's \s matches in a str) */
static inline int
is_space1(unsigned char c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0;
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
    if (nargs != 2 || !PyUnicode_Check(args[0]) ||
        PyUnicode_KIND(args[0]) != PyUnicode_1BYTE_KIND) {
        PyErr_SetString(PyExc_TypeError, "keys4(text: latin-1 str, base: int)");
        return NULL;
    }
    Py_ssize_t base = PyLong_AsSsize_t(args[1]);
    if (base == -1 && PyErr_Occurred())
        return NULL;
    const char *s = (const char *)PyUnicode_1BYTE_DATA(args[0]);
    Py_ssize_t n = PyUnicode_GET_LENGTH(args[0]);
    Py_ssize_t cap = 1024, count = 0;
    uint64_t *out = PyMem_Malloc(cap * sizeof(uint64_t));
    if (out == NULL)
        return PyErr_NoMemory();
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
        uint64_t key = parse_ipv4(s + a, k - a, &ip) ? ip : ((uint64_t)1 << 32) + base + count;
        if (count == cap) {
            cap *= 2;
            uint64_t *grown = PyMem_Realloc(out, cap * sizeof(uint64_t));
            if (grown == NULL) {
                PyMem_Free(out);
                return PyErr_NoMemory();
            }
            out = grown;
        }
        out[count++] = key;
        i = k;
    }
    PyObject *res = PyBytes_FromStringAndSize((const char *)out, count * sizeof(uint64_t));
    PyMem_Free(out);
    return res;
}

static PyMethodDef methods[] = {
    {"init", isc4_init, METH_VARARGS, "init(Extracted, Lease4, IPv4Address) -> bool"},
    {"scan4", (PyCFunction)(void (*)(void))isc4_scan, METH_FASTCALL,
     "scan4(text, pos, win4, i4, line, source, limit) -> (items, pos, i4, line)"},
    {"keys4", (PyCFunction)(void (*)(void))isc4_keys4, METH_FASTCALL,
     "keys4(text, base) -> bytes of native uint64 keys"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_isc4",
                                    "C fast path for dhcpd.leases v4 blocks (internal).", -1,
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
    S.zero = PyLong_FromLong(0);
    if (S.zero == NULL)
        return NULL;
    return PyModule_Create(&module);
}
