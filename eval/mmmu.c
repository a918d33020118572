/* MMMU scoring exactly as the official MMMU code (and lmms-eval's variants) do it:
 * multiple-choice and open-answer extraction, judging, the seeded random fallback and the
 * per-subject / per-discipline / overall aggregation (shared/spec/eval.md section 1). */
#include "eval/eval.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- subjects and disciplines (spec 1.2) ---- */

static const struct {
    const char *name;
    const char *const subjects[8];
} DISCIPLINES[6] = {
    {"Art and Design", {"Art", "Art_Theory", "Design", "Music"}},
    {"Business", {"Accounting", "Economics", "Finance", "Manage", "Marketing"}},
    {"Science", {"Biology", "Chemistry", "Geography", "Math", "Physics"}},
    {"Health and Medicine",
     {"Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
      "Pharmacy", "Public_Health"}},
    {"Humanities and Social Science", {"History", "Literature", "Sociology", "Psychology"}},
    {"Tech and Engineering",
     {"Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
      "Energy_and_Power", "Materials", "Mechanical_Engineering"}},
};

#define N_SUBJECTS 30

/* Subject index (discipline * 8 + position) of an id "split_Sub_ject_N", or -1. */
static int subject_of_id(const char *id) {
    const char *a = strchr(id, '_'), *b = strrchr(id, '_');
    if (!a || b <= a + 1)
        return -1;
    size_t n = (size_t)(b - a - 1);
    for (int d = 0; d < 6; d++)
        for (int k = 0; k < 8 && DISCIPLINES[d].subjects[k]; k++)
            if (strlen(DISCIPLINES[d].subjects[k]) == n &&
                !memcmp(DISCIPLINES[d].subjects[k], a + 1, n))
                return d * 8 + k;
    return -1;
}

static const char *subject_name(int s) {
    return DISCIPLINES[s / 8].subjects[s % 8];
}

const char *vlm_mmmu_mode_name(vlm_mmmu_mode mode) {
    switch (mode) {
    case VLM_MMMU_OFFICIAL: return "official";
    case VLM_MMMU_OFFICIAL_EVAL_ONLY: return "official_eval_only";
    case VLM_MMMU_LMMS_V03: return "lmms_v03";
    case VLM_MMMU_LMMS_HEAD: return "lmms_head";
    }
    return "?";
}

vlm_status vlm_mmmu_mode_parse(const char *text, vlm_mmmu_mode *out, vlm_error *err) {
    for (int m = VLM_MMMU_OFFICIAL; m <= VLM_MMMU_LMMS_HEAD; m++)
        if (!strcmp(text, vlm_mmmu_mode_name((vlm_mmmu_mode)m))) {
            *out = (vlm_mmmu_mode)m;
            return VLM_OK;
        }
    return vlm_error_set(err, VLM_ERR_INVALID,
                         "unknown MMMU mode '%s' (official, official_eval_only, lmms_v03, "
                         "lmms_head)",
                         text);
}

/* ---- substring helpers on byte strings ---- */

static int contains(const char *h, size_t hn, const char *n, size_t nn) {
    return memmem(h, hn, n, nn) != NULL;
}

/* Python str.rfind: byte offset of the last occurrence, -1 when absent, hn for "". */
static long rfind(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn > hn)
        return -1;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (h[i] == n[0] && !memcmp(h + i, n, nn))
            return (long)i;
    return nn == 0 ? (long)hn : -1;
}

/* ---- multiple choice (spec 1.3, 1.7) ---- */

int vlm_mmmu_parse_choice(const char *response, size_t len, const vlm_mmmu_choice *choices,
                          int n_choices, vlm_mmmu_mode mode) {
    int lmms = mode == VLM_MMMU_LMMS_V03 || mode == VLM_MMMU_LMMS_HEAD;
    /* Step 1: strip each edge character in turn (not whitespace). */
    size_t off = 0;
    for (const char *c = ",.!?;:'"; *c; c++)
        off += vlm_py_strip_char(response + off, &len, *c);
    size_t sn = len + 2;
    char *s = malloc(sn + 1);
    int *cand = malloc(sizeof(int) * (size_t)(n_choices > 0 ? n_choices : 1));
    char *ls = NULL;
    size_t lsn = 0;
    int pick = -1;
    if (!s || !cand)
        goto done;
    s[0] = ' ';
    memcpy(s + 1, response + off, len);
    s[len + 1] = ' ';
    s[sn] = '\0';

    int nc = 0, bracket = 0, text = 0;
    char nb[64];
    for (int i = 0; i < n_choices; i++) { /* step 3: "(X)" */
        int k = snprintf(nb, sizeof nb, "(%s)", choices[i].letter);
        if (k < (int)sizeof nb && contains(s, sn, nb, (size_t)k))
            cand[nc++] = i, bracket = 1;
    }
    if (nc == 0) /* step 4: " X " (lmms: "X ") */
        for (int i = 0; i < n_choices; i++) {
            int k = snprintf(nb, sizeof nb, lmms ? "%s " : " %s ", choices[i].letter);
            if (k < (int)sizeof nb && contains(s, sn, nb, (size_t)k))
                cand[nc++] = i;
        }
    if (nc == 0 && lmms) /* lmms only: "X." */
        for (int i = 0; i < n_choices; i++) {
            int k = snprintf(nb, sizeof nb, "%s.", choices[i].letter);
            if (k < (int)sizeof nb && contains(s, sn, nb, (size_t)k))
                cand[nc++] = i;
        }
    if (nc == 0 && vlm_py_split_count(s, sn) > 5) { /* step 5: option text */
        ls = vlm_py_lower(s, sn, &lsn);
        if (!ls)
            goto done;
        for (int i = 0; i < n_choices; i++) {
            if (!choices[i].text)
                continue;
            size_t ln;
            char *lt = vlm_py_lower(choices[i].text, strlen(choices[i].text), &ln);
            if (lt && contains(ls, lsn, lt, ln))
                cand[nc++] = i, text = 1;
            free(lt);
        }
    }
    if (nc == 1) {
        pick = cand[0];
    } else if (nc > 1) { /* step 6: the largest last position; numpy argmax keeps the first */
        long best = -2;
        for (int c = 0; c < nc; c++) {
            long pos;
            const vlm_mmmu_choice *ch = &choices[cand[c]];
            if (text) {
                size_t ln;
                char *lt = vlm_py_lower(ch->text, strlen(ch->text), &ln);
                pos = lt ? rfind(ls, lsn, lt, ln) : -1;
                free(lt);
            } else {
                int k = snprintf(nb, sizeof nb, bracket ? "(%s)" : " %s ", ch->letter);
                pos = k < (int)sizeof nb ? rfind(s, sn, nb, (size_t)k) : -1;
            }
            if (pos > best)
                best = pos, pick = cand[c];
        }
    }
done:
    free(s);
    free(cand);
    free(ls);
    return pick;
}

/* ---- open answers (spec 1.4) ---- */

void vlm_mmmu_cands_free(vlm_mmmu_cands *c) {
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->v[i].str);
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

static vlm_status cands_push(vlm_mmmu_cands *out, int is_number, double number, const char *s,
                             size_t len, vlm_error *err) {
    vlm_mmmu_cand *v = realloc(out->v, sizeof *v * (size_t)(out->n + 1));
    if (!v)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    out->v = v;
    vlm_mmmu_cand *c = &v[out->n];
    memset(c, 0, sizeof *c);
    c->is_number = is_number;
    c->number = number;
    if (!is_number) {
        c->str = malloc(len + 1);
        if (!c->str)
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        memcpy(c->str, s, len);
        c->str[len] = '\0';
        c->len = len;
    }
    out->n++;
    return VLM_OK;
}

vlm_status vlm_mmmu_normalize(const char *s, size_t len, vlm_mmmu_cands *out, vlm_error *err) {
    s += vlm_py_strip(s, &len);
    /* check_is_number: float() of the text with every ',' removed. */
    char *nc = malloc(len + 1);
    if (!nc)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != ',')
            nc[k++] = s[i];
    double v;
    int is_num = vlm_py_float(nc, k, &v);
    free(nc);
    if (is_num)
        return cands_push(out, 1, vlm_py_round2(v), NULL, 0, err);
    size_t ln;
    char *low = vlm_py_lower(s, len, &ln);
    if (!low)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    vlm_status st;
    if (vlm_py_len(low, ln) == 1) {
        char pair[16];
        pair[0] = ' ';
        memcpy(pair + 1, low, ln);
        st = cands_push(out, 0, 0, pair, ln + 1, err);
        memcpy(pair, low, ln);
        pair[ln] = ' ';
        if (st == VLM_OK)
            st = cands_push(out, 0, 0, pair, ln + 1, err);
    } else {
        st = cands_push(out, 0, 0, low, ln, err);
    }
    free(low);
    return st;
}

/* The three number patterns of extract_numbers (spec 1.4.1), compiled once. */
static vlm_regex *g_num_re[3];
static vlm_status g_num_status = VLM_OK;
static pthread_once_t g_num_once = PTHREAD_ONCE_INIT;

static void num_re_init(void) {
    static const char *const pat[3] = {
        "-?\\b\\d{1,3}(?:,\\d{3})+\\b",
        "-?\\d+(?:\\.\\d+)?[eE][+-]?\\d+",
        "-?(?:\\d+\\.\\d+|\\.\\d+|\\d+\\b)(?![eE][+-]?\\d+)(?![,\\d])",
    };
    for (int i = 0; i < 3 && g_num_status == VLM_OK; i++)
        g_num_status = vlm_regex_compile(pat[i], &g_num_re[i], NULL);
}

typedef struct span {
    const char *p;
    size_t n;
} span;

/* get_key_subresponses: appends the key responses of t (lower-cased) to keys. */
static int key_responses(const char *t, size_t tn, span *keys) {
    static const char *const IND[] = {"could be ", "so ",     "is ",     "thus ", "therefore ",
                                      "final ",    "answer ", "result ", "="};
    int nk = 0;
    for (size_t a = 0; a <= tn;) {
        const char *nl = memchr(t + a, '\n', tn - a);
        size_t b = nl ? (size_t)(nl - t) : tn;
        int last = nl == NULL;
        const char *piece = t + a;
        size_t pn = b - a;
        span best = {NULL, 0};
        int have = 0;
        for (int k = 0; k < (last ? 9 : 8); k++) {
            size_t in = strlen(IND[k]);
            long pos = rfind(piece, pn, IND[k], in);
            if (pos < 0)
                continue;
            size_t tl = pn - (size_t)pos - in;
            const char *tail = piece + pos + in;
            tail += vlm_py_strip(tail, &tl);
            if (!have || best.n == 0 || vlm_py_len(tail, tl) < vlm_py_len(best.p, best.n))
                best = (span){tail, tl}, have = 1;
        }
        if (have && best.n > 0 && !(best.n == 1 && strchr(":,.!?;'", best.p[0]) != NULL))
            keys[nk++] = best;
        if (last)
            break;
        a = b + 1;
    }
    return nk;
}

static int cand_equal(const vlm_mmmu_cand *a, const vlm_mmmu_cand *b) {
    if (a->is_number != b->is_number)
        return 0;
    if (a->is_number)
        return a->number == b->number; /* NaN never equal: kept, as Python's set keeps it */
    return a->len == b->len && !memcmp(a->str, b->str, a->len);
}

vlm_status vlm_mmmu_parse_open(const char *response, size_t len, vlm_mmmu_cands *out,
                               vlm_error *err) {
    out->v = NULL;
    out->n = 0;
    pthread_once(&g_num_once, num_re_init);
    if (g_num_status != VLM_OK)
        return vlm_error_set(err, VLM_ERR_INTERNAL, "cannot compile the number patterns");
    size_t tn = len;
    const char *t0 = response + vlm_py_strip(response, &tn);
    t0 += vlm_py_strip_char(t0, &tn, '.');
    size_t ln;
    char *t = vlm_py_lower(t0, tn, &ln);
    size_t pieces = 1;
    for (size_t i = 0; t && i < ln; i++)
        pieces += t[i] == '\n';
    span *keys = t ? malloc(sizeof *keys * pieces) : NULL;
    if (!keys) {
        free(t);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    int nk = key_responses(t, ln, keys);
    if (nk == 0)
        keys[nk++] = (span){t, ln};

    /* pred_list = key responses, then the numbers of each key response; all normalised. */
    vlm_mmmu_cands all = {0};
    vlm_status st = VLM_OK;
    for (int k = 0; k < nk && st == VLM_OK; k++)
        st = vlm_mmmu_normalize(keys[k].p, keys[k].n, &all, err);
    for (int k = 0; k < nk && st == VLM_OK; k++)
        for (int r = 0; r < 3 && st == VLM_OK; r++) {
            vlm_regex_match *m;
            size_t nm;
            st = vlm_regex_findall(g_num_re[r], keys[k].p, keys[k].n, &m, &nm, err);
            for (size_t j = 0; st == VLM_OK && j < nm; j++)
                st = vlm_mmmu_normalize(keys[k].p + m[j].start, m[j].end - m[j].start, &all, err);
            free(m);
        }
    /* list(set(...)): keep the first of equal candidates. */
    for (int i = 0; st == VLM_OK && i < all.n; i++) {
        int dup = 0;
        for (int j = 0; j < out->n && !dup; j++)
            dup = cand_equal(&all.v[i], &out->v[j]);
        if (!dup)
            st = cands_push(out, all.v[i].is_number, all.v[i].number, all.v[i].str, all.v[i].len,
                            err);
    }
    vlm_mmmu_cands_free(&all);
    free(keys);
    free(t);
    if (st != VLM_OK)
        vlm_mmmu_cands_free(out);
    return st;
}

int vlm_mmmu_judge_open(const vlm_mmmu_cands *pred, const char *const *gold, int n_gold) {
    vlm_mmmu_cands g = {0};
    for (int i = 0; i < n_gold; i++)
        if (vlm_mmmu_normalize(gold[i], strlen(gold[i]), &g, NULL) != VLM_OK)
            break;
    int correct = 0;
    for (int p = 0; p < pred->n && !correct; p++)
        for (int k = 0; k < g.n && !correct; k++) {
            const vlm_mmmu_cand *a = &pred->v[p], *b = &g.v[k];
            if (!a->is_number && !b->is_number)
                correct = contains(a->str, a->len, b->str, b->len);
            else if (a->is_number && b->is_number)
                correct = a->number == b->number;
        }
    vlm_mmmu_cands_free(&g);
    return correct;
}

/* ---- the scorer ---- */

typedef struct item_rec {
    char *id;
    int subject;
    int correct;
    int random_fallback;
    json_t *parsed; /* owned: letter string or candidate list */
} item_rec;

struct vlm_mmmu_scorer {
    vlm_mmmu_mode mode;
    vlm_py_random rng;
    item_rec *items;
    size_t n, cap;
    json_t *seen;                                     /* id -> true, for duplicates */
    int n_duplicate, n_skipped, n_unknown, n_missing; /* n_missing -1: unknown */
};

vlm_status vlm_mmmu_scorer_create(vlm_mmmu_mode mode, vlm_mmmu_scorer **out, vlm_error *err) {
    vlm_mmmu_scorer *sc = calloc(1, sizeof *sc);
    if (!sc || !(sc->seen = json_object())) {
        free(sc);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    sc->mode = mode;
    sc->n_missing = -1;
    /* Official: random.seed(42) at import; lmms-eval: --seed's first value 0 (spec 1.3.3). */
    vlm_py_random_seed(&sc->rng, mode == VLM_MMMU_LMMS_V03 || mode == VLM_MMMU_LMMS_HEAD ? 0 : 42);
    *out = sc;
    return VLM_OK;
}

void vlm_mmmu_scorer_destroy(vlm_mmmu_scorer *sc) {
    if (!sc)
        return;
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->items[i].id);
        json_decref(sc->items[i].parsed);
    }
    free(sc->items);
    json_decref(sc->seen);
    free(sc);
}

/* Python repr() of a list of str: what str(list) gives, the HF form of a list gold. */
static char *py_list_repr(const char *const *v, int n) {
    size_t cap = 3;
    for (int i = 0; i < n; i++)
        cap += 4 + 2 * strlen(v[i]);
    char *o = malloc(cap), *p = o;
    if (!o)
        return NULL;
    *p++ = '[';
    for (int i = 0; i < n; i++) {
        if (i)
            *p++ = ',', *p++ = ' ';
        char q = strchr(v[i], '\'') && !strchr(v[i], '"') ? '"' : '\'';
        *p++ = q;
        for (const char *c = v[i]; *c; c++) {
            if (*c == '\\' || *c == q)
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = q;
    }
    *p++ = ']';
    *p = '\0';
    return o;
}

static json_t *cands_json(const vlm_mmmu_cands *c) {
    json_t *a = json_array();
    for (int i = 0; a && i < c->n; i++) {
        json_t *v = c->v[i].is_number
                        ? (isfinite(c->v[i].number) ? json_real(c->v[i].number) : json_null())
                        : json_stringn(c->v[i].str, c->v[i].len);
        json_array_append_new(a, v);
    }
    return a;
}

vlm_status vlm_mmmu_score_item(vlm_mmmu_scorer *sc, const vlm_mmmu_item *it, vlm_error *err) {
    int subject = subject_of_id(it->id);
    if (subject < 0)
        return vlm_error_set(err, VLM_ERR_FORMAT, "id '%s': not an MMMU id of a known subject",
                             it->id);
    int lmms = sc->mode == VLM_MMMU_LMMS_V03 || sc->mode == VLM_MMMU_LMMS_HEAD;
    char *hf_owned = NULL;
    const char *gold_hf = it->gold_hf;
    if (lmms && !gold_hf) {
        if (it->n_gold == 1)
            gold_hf = it->gold[0];
        else if (!(gold_hf = hf_owned = py_list_repr(it->gold, it->n_gold)))
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    item_rec rec = {0};
    rec.subject = subject;
    if (it->multiple_choice) {
        const char *pred;
        char *pred_owned = NULL;
        if (sc->mode == VLM_MMMU_OFFICIAL_EVAL_ONLY) {
            pred = pred_owned = strndup(it->response, it->response_len);
        } else {
            if (it->n_choices < 1) {
                free(hf_owned);
                return vlm_error_set(err, VLM_ERR_FORMAT,
                                     "id '%s': multiple-choice item without options", it->id);
            }
            int k = vlm_mmmu_parse_choice(it->response, it->response_len, it->choices,
                                          it->n_choices, sc->mode);
            if (k < 0) {
                k = (int)vlm_py_random_below(&sc->rng, (uint32_t)it->n_choices);
                rec.random_fallback = 1;
            }
            pred = it->choices[k].letter;
        }
        if (!pred) {
            free(hf_owned);
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        if (lmms) {
            rec.correct = !strcmp(pred, gold_hf);
        } else {
            for (int g = 0; g < it->n_gold && !rec.correct; g++)
                rec.correct = !strcmp(pred, it->gold[g]);
        }
        rec.parsed = json_string(pred);
        free(pred_owned);
    } else {
        vlm_mmmu_cands c;
        vlm_error rerr = {0};
        vlm_status st = vlm_mmmu_parse_open(it->response, it->response_len, &c, &rerr);
        if (st == VLM_ERR_UNSUPPORTED) { /* regex limit: a counted skip, reported */
            sc->n_skipped++;
            free(hf_owned);
            return vlm_error_set(err, VLM_ERR_UNSUPPORTED, "id '%s': %s; item not scored", it->id,
                                 rerr.msg);
        }
        if (st != VLM_OK) {
            free(hf_owned);
            if (err)
                *err = rerr;
            return st;
        }
        if (sc->mode == VLM_MMMU_LMMS_HEAD) {
            /* str(first candidate) is iterated per character: right only if a normalised
             * gold string is empty and that string has a character (spec 1.7). */
            vlm_mmmu_cands g = {0};
            vlm_mmmu_normalize(gold_hf, strlen(gold_hf), &g, NULL);
            int empty_gold = 0;
            for (int k = 0; k < g.n; k++)
                empty_gold |= !g.v[k].is_number && g.v[k].len == 0;
            vlm_mmmu_cands_free(&g);
            int first_nonempty = c.n > 0 && (c.v[0].is_number || c.v[0].len > 0);
            rec.correct = empty_gold && first_nonempty;
        } else if (lmms) {
            rec.correct = vlm_mmmu_judge_open(&c, &gold_hf, 1);
        } else {
            rec.correct = vlm_mmmu_judge_open(&c, it->gold, it->n_gold);
        }
        rec.parsed = cands_json(&c);
        vlm_mmmu_cands_free(&c);
    }
    free(hf_owned);
    rec.id = strdup(it->id);
    if (!rec.id || !rec.parsed) {
        free(rec.id);
        json_decref(rec.parsed);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    if (json_object_get(sc->seen, it->id))
        sc->n_duplicate++;
    else
        json_object_set_new(sc->seen, it->id, json_true());
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        item_rec *v = realloc(sc->items, cap * sizeof *v);
        if (!v) {
            free(rec.id);
            json_decref(rec.parsed);
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        sc->items = v;
        sc->cap = cap;
    }
    sc->items[sc->n++] = rec;
    return VLM_OK;
}

static json_t *stat_json(long num, long correct) {
    return json_pack("{s:I, s:I, s:f}", "num", (json_int_t)num, "correct", (json_int_t)correct,
                     "acc", num ? (double)correct / (double)num : 0.0);
}

json_t *vlm_mmmu_scorer_json(const vlm_mmmu_scorer *sc) {
    long num[48] = {0}, cor[48] = {0}, n_random = 0, random_correct = 0, tn = 0, tc = 0;
    for (size_t i = 0; i < sc->n; i++) {
        const item_rec *r = &sc->items[i];
        num[r->subject]++;
        cor[r->subject] += r->correct;
        n_random += r->random_fallback;
        random_correct += r->random_fallback && r->correct;
        tn++;
        tc += r->correct;
    }
    json_t *root = json_object(), *subjects = json_object(), *disc = json_object(),
           *per = json_object();
    if (!root || !subjects || !disc || !per) {
        json_decref(root), json_decref(subjects), json_decref(disc), json_decref(per);
        return NULL;
    }
    json_object_set_new(root, "benchmark", json_string("mmmu"));
    json_object_set_new(root, "mode", json_string(vlm_mmmu_mode_name(sc->mode)));
    json_object_set_new(root, "overall", stat_json(tn, tc));
    /* The same predictions with every random fallback counted wrong. */
    json_object_set_new(root, "overall_no_random", stat_json(tn, tc - random_correct));
    if (sc->n_missing >= 0)
        json_object_set_new(root, "n_missing", json_integer(sc->n_missing));
    for (int d = 0; d < 6; d++) {
        long dn = 0, dc = 0;
        for (int k = 0; k < 8 && DISCIPLINES[d].subjects[k]; k++) {
            int s = d * 8 + k;
            dn += num[s];
            dc += cor[s];
            if (num[s])
                json_object_set_new(subjects, subject_name(s), stat_json(num[s], cor[s]));
        }
        json_object_set_new(disc, DISCIPLINES[d].name, stat_json(dn, dc));
    }
    json_object_set_new(root, "subjects", subjects);
    json_object_set_new(root, "disciplines", disc);
    json_object_set_new(root, "n_random_fallback", json_integer(n_random));
    json_object_set_new(root, "n_unknown", json_integer(sc->n_unknown));
    json_object_set_new(root, "n_duplicate", json_integer(sc->n_duplicate));
    json_object_set_new(root, "n_skipped", json_integer(sc->n_skipped));
    for (size_t i = 0; i < sc->n; i++) {
        const item_rec *r = &sc->items[i];
        json_object_set_new(per, r->id,
                            json_pack("{s:s, s:O, s:b, s:b}", "subject", subject_name(r->subject),
                                      "parsed", r->parsed, "correct", r->correct, "random_fallback",
                                      r->random_fallback));
    }
    json_object_set_new(root, "per_item", per);
    return root;
}

static int cmp_item_id(const void *a, const void *b) {
    const item_rec *x = *(const item_rec *const *)a, *y = *(const item_rec *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x < y ? -1 : x > y);
}

json_t *vlm_mmmu_scorer_items(const vlm_mmmu_scorer *sc) {
    const item_rec **order = malloc(sizeof *order * (sc->n ? sc->n : 1));
    json_t *a = json_array();
    if (!order || !a) {
        free(order);
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < sc->n; i++)
        order[i] = &sc->items[i];
    qsort(order, sc->n, sizeof *order, cmp_item_id);
    for (size_t i = 0; i < sc->n; i++)
        json_array_append_new(a, json_integer(order[i]->correct));
    free(order);
    return a;
}

/* ---- reading inputs (spec 1.1) ---- */

/* A Python list literal of str ("['24/7', '3.429']", the HF options and list golds) as a new
 * JSON array of strings; NULL when text is not one. Handles both quotes and the escapes
 * repr() produces (\\ \' \" \n \r \t \xHH \uHHHH \UHHHHHHHH). */
static json_t *parse_py_list(const char *s) {
    json_t *a = json_array();
    size_t n = strlen(s), i = 0;
    char *buf = malloc(n + 1);
    if (!a || !buf)
        goto fail;
#define SKIP_WS()                                                                                  \
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))                 \
    i++
    SKIP_WS();
    if (i >= n || s[i++] != '[')
        goto fail;
    SKIP_WS();
    if (i < n && s[i] == ']') {
        i++;
        goto end;
    }
    for (;;) {
        SKIP_WS();
        if (i >= n || (s[i] != '\'' && s[i] != '"'))
            goto fail;
        char q = s[i++];
        size_t k = 0;
        while (i < n && s[i] != q) {
            if (s[i] != '\\') {
                buf[k++] = s[i++];
                continue;
            }
            if (++i >= n)
                goto fail;
            char e = s[i++];
            int hex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
            if (hex) {
                if (i + (size_t)hex > n)
                    goto fail;
                uint32_t cp = 0;
                for (int h = 0; h < hex; h++) {
                    char c = s[i++];
                    int v = c >= '0' && c <= '9'   ? c - '0'
                            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                   : -1;
                    if (v < 0)
                        goto fail;
                    cp = cp * 16 + (uint32_t)v;
                }
                if (cp > 0x10FFFF || cp == 0 || (cp >= 0xD800 && cp < 0xE000))
                    goto fail;
                /* at most 4 bytes out of at least 4 bytes in */
                if (cp < 0x80) {
                    buf[k++] = (char)cp;
                } else if (cp < 0x800) {
                    buf[k++] = (char)(0xC0 | (cp >> 6));
                    buf[k++] = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    buf[k++] = (char)(0xE0 | (cp >> 12));
                    buf[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[k++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    buf[k++] = (char)(0xF0 | (cp >> 18));
                    buf[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    buf[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    buf[k++] = (char)(0x80 | (cp & 0x3F));
                }
                continue;
            }
            buf[k++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        }
        if (i >= n)
            goto fail;
        i++;
        json_t *str = json_stringn(buf, k);
        if (!str || json_array_append_new(a, str))
            goto fail;
        SKIP_WS();
        if (i < n && s[i] == ',') {
            i++;
            SKIP_WS();
            if (i < n && s[i] == ']') {
                i++;
                break;
            }
            continue;
        }
        if (i < n && s[i] == ']') {
            i++;
            break;
        }
        goto fail;
    }
end:
    SKIP_WS();
#undef SKIP_WS
    if (i != n)
        goto fail;
    free(buf);
    return a;
fail:
    free(buf);
    json_decref(a);
    return NULL;
}

/* A gold value as a new array of strings: a string (hf: a list literal becomes its elements)
 * or a list of strings. NULL when it is neither. */
static json_t *gold_list(json_t *v, int hf) {
    if (json_is_string(v)) {
        json_t *l =
            hf && json_string_value(v)[0] == '[' ? parse_py_list(json_string_value(v)) : NULL;
        return l ? l : json_pack("[O]", v);
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return NULL;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
    return json_incref(v);
}

/* Options: a list of strings or a Python list literal string. New reference or NULL. */
static json_t *options_list(json_t *v) {
    if (json_is_string(v))
        return parse_py_list(json_string_value(v));
    if (!json_is_array(v))
        return NULL;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!json_is_string(e)) return NULL;
    return json_incref(v);
}

typedef struct load_ctx {
    vlm_mmmu_scorer *sc;
    json_t *questions; /* id -> {"mc", "gold", "gold_hf", "options"}; NULL without --questions */
    json_t *answered;  /* ids that got a prediction */
    const char *pred_path;
    json_t *pe_docs; /* member name -> {"where", "doc"}: output.json lists of a folder tree */
    vlm_warnings warn;
    int n_unknown;
} load_ctx;

static const char *const LETTERS[26] = {"A", "B", "C", "D", "E", "F", "G", "H", "I",
                                        "J", "K", "L", "M", "N", "O", "P", "Q", "R",
                                        "S", "T", "U", "V", "W", "X", "Y", "Z"};

/* The fields of one prediction record, borrowed from its JSON (NULL when absent). */
typedef struct pred_fields {
    const char *where; /* "FILE:LINE" for messages */
    json_t *id, *qtype, *options, *all_choices, *index2ans, *answer, *answer_hf, *response;
    int answer_is_hf; /* answer in the HF form (list literal string) */
} pred_fields;

static vlm_status score_fields(load_ctx *c, const pred_fields *f, vlm_error *err) {
    if (!json_is_string(f->id))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: missing or non-string field 'id'", f->where);
    const char *id = json_string_value(f->id);
    json_t *q = NULL;
    if (c->questions) {
        q = json_object_get(c->questions, id);
        if (!q) {
            c->n_unknown++;
            vlm_warnf(&c->warn, "%s: id '%s' is not in the questions: skipped", f->where, id);
            return VLM_OK;
        }
        json_object_set_new(c->answered, id, json_true());
    }
    if (!json_is_string(f->response))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: id '%s': missing or non-string field '%s'",
                             f->where, id, "response");
    int mc;
    if (json_is_string(f->qtype))
        mc = !strcmp(json_string_value(f->qtype), "multiple-choice");
    else if (q)
        mc = json_is_true(json_object_get(q, "mc"));
    else
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: id '%s': missing field 'question_type'",
                             f->where, id);

    vlm_status st = VLM_OK;
    json_t *gold = q           ? json_incref(json_object_get(q, "gold"))
                   : f->answer ? gold_list(f->answer, f->answer_is_hf)
                               : NULL;
    json_t *gold_hf = json_is_string(f->answer_hf) ? f->answer_hf
                      : q                          ? json_object_get(q, "gold_hf")
                      : f->answer_is_hf            ? f->answer
                                                   : NULL;
    json_t *opts = f->options ? options_list(f->options)
                   : q        ? json_incref(json_object_get(q, "options"))
                              : NULL;
    const char **gv = NULL;
    vlm_mmmu_choice *ch = NULL;
    int nch = 0;
    if (!gold) {
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: id '%s': missing or malformed field '%s'",
                           f->where, id, "answer");
        goto done;
    }
    if (f->options && !opts) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: id '%s': 'options' is neither a list of strings nor a Python "
                           "list literal",
                           f->where, id);
        goto done;
    }
    int ng = (int)json_array_size(gold);
    gv = malloc(sizeof *gv * (size_t)ng);
    if (!gv) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < ng; i++)
        gv[i] = json_string_value(json_array_get(gold, (size_t)i));

    if (mc && json_is_array(f->all_choices)) { /* parse-and-evaluate: all_choices + index2ans */
        nch = (int)json_array_size(f->all_choices);
        ch = calloc((size_t)(nch ? nch : 1), sizeof *ch);
        for (int i = 0; ch && i < nch; i++) {
            ch[i].letter = json_string_value(json_array_get(f->all_choices, (size_t)i));
            if (ch[i].letter)
                ch[i].text = json_string_value(json_object_get(f->index2ans, ch[i].letter));
            if (!ch[i].letter) {
                st = vlm_error_set(err, VLM_ERR_FORMAT,
                                   "%s: id '%s': 'all_choices' holds a "
                                   "non-string",
                                   f->where, id);
                goto done;
            }
        }
    } else if (mc && opts) {
        nch = (int)json_array_size(opts);
        if (nch > 26) {
            st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: id '%s': %d options (at most 26)",
                               f->where, id, nch);
            goto done;
        }
        ch = calloc((size_t)(nch ? nch : 1), sizeof *ch);
        for (int i = 0; ch && i < nch; i++) {
            ch[i].letter = LETTERS[i];
            ch[i].text = json_string_value(json_array_get(opts, (size_t)i));
        }
    } else if (mc && c->sc->mode != VLM_MMMU_OFFICIAL_EVAL_ONLY) {
        st = vlm_error_set(err, VLM_ERR_FORMAT,
                           "%s: id '%s': multiple-choice item without 'options' (give them in "
                           "the record or through --questions)",
                           f->where, id);
        goto done;
    }
    if (mc && !ch && nch) {
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        goto done;
    }
    vlm_mmmu_item it = {.id = id,
                        .multiple_choice = mc,
                        .choices = ch,
                        .n_choices = nch,
                        .gold = gv,
                        .n_gold = ng,
                        .gold_hf = json_string_value(gold_hf),
                        .response = json_string_value(f->response),
                        .response_len = json_string_length(f->response)};
    vlm_error ierr = {0};
    st = vlm_mmmu_score_item(c->sc, &it, &ierr);
    if (st == VLM_ERR_UNSUPPORTED) { /* regex limit: counted and reported, not fatal */
        vlm_warnf(&c->warn, "%s: %s", f->where, ierr.msg);
        st = VLM_OK;
    } else if (st != VLM_OK) {
        vlm_error_set(err, st, "%s: %s", f->where, ierr.msg);
    }
done:
    free(gv);
    free(ch);
    json_decref(gold);
    json_decref(opts);
    return st;
}

/* lmms-eval's filtered_resps: a string (v0.7+) or a list whose first element is one
 * (possibly nested once more). */
static json_t *lmms_response(json_t *rec) {
    json_t *v = json_object_get(rec, "filtered_resps");
    if (!v)
        v = json_object_get(rec, "resps");
    for (int depth = 0; depth < 3 && json_is_array(v); depth++)
        v = json_array_get(v, 0);
    return json_is_string(v) ? v : NULL;
}

/* A parse-and-evaluate output.json list: {id, question_type, answer, all_choices, index2ans,
 * response} per item. */
static vlm_status score_pe_item(void *ctx, const char *where, json_t *e, vlm_error *err) {
    pred_fields f = {where,
                     json_object_get(e, "id"),
                     json_object_get(e, "question_type"),
                     json_object_get(e, "options"),
                     json_object_get(e, "all_choices"),
                     json_object_get(e, "index2ans"),
                     json_object_get(e, "answer"),
                     json_object_get(e, "answer_hf"),
                     json_object_get(e, "response"),
                     0};
    return score_fields(ctx, &f, err);
}

static vlm_status score_pe_list(load_ctx *c, const char *where, json_t *v, vlm_error *err) {
    return vlm_json_each_object(v, where, "item", score_pe_item, c, err);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Scores the stashed output.json lists in byte-wise member path order. */
static vlm_status score_pe_docs(load_ctx *c, vlm_error *err) {
    size_t n = json_object_size(c->pe_docs), k = 0;
    if (n == 0)
        return VLM_OK;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    const char *key;
    json_t *e;
    json_object_foreach(c->pe_docs, key, e) keys[k++] = key;
    qsort(keys, n, sizeof *keys, cmp_str);
    vlm_status st = VLM_OK;
    for (size_t i = 0; i < n && st == VLM_OK; i++) {
        e = json_object_get(c->pe_docs, keys[i]);
        st = score_pe_list(c, json_string_value(json_object_get(e, "where")),
                           json_object_get(e, "doc"), err);
    }
    free(keys);
    return st;
}

static vlm_status pred_doc(void *ctx, const char *name, int line, json_t *v, vlm_error *err) {
    load_ctx *c = ctx;
    /* In a directory or archive, read only parse-and-evaluate output.json files and JSON
     * Lines files (the official folders also hold parsed_output.json and result.json). */
    if (strcmp(name, c->pred_path)) {
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : strrchr(name, ':') ? strrchr(name, ':') + 1 : name;
        size_t n = strlen(name);
        if (strcmp(base, "output.json") && !(n > 6 && !strcmp(name + n - 6, ".jsonl")))
            return VLM_OK;
    }
    char where[1100];
    if (line)
        snprintf(where, sizeof where, "%s:%d", name, line);
    else
        snprintf(where, sizeof where, "%s", name);
    if (json_is_array(v)) {
        if (strcmp(name, c->pred_path)) {
            /* Folders in a directory or archive are scored once all are read, in byte-wise
             * path order: the official subject order (spec 1.2), whatever the archive's
             * member order, so the random draws match. */
            json_t *e = json_pack("{s:s, s:O}", "where", where, "doc", v);
            if (!e || json_object_set_new(c->pe_docs, name, e))
                return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
            return VLM_OK;
        }
        return score_pe_list(c, where, v, err);
    }
    if (!json_is_object(v))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: expected a JSON object or list", where);
    json_t *acc = json_object_get(v, "mmmu_acc");
    if (acc || json_object_get(v, "doc_id")) { /* lmms-eval --log_samples */
        if (!json_is_object(acc))
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: lmms-eval sample without a 'mmmu_acc' object", where);
        json_t *answer = json_object_get(acc, "answer");
        if (!answer)
            answer = json_object_get(v, "target");
        pred_fields f = {where,
                         json_object_get(acc, "id"),
                         json_object_get(acc, "question_type"),
                         NULL,
                         NULL,
                         NULL,
                         answer,
                         NULL,
                         lmms_response(v),
                         1};
        if (!f.response)
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: lmms-eval sample without a string 'filtered_resps'", where);
        return score_fields(c, &f, err);
    }
    if (json_object_get(v, "id")) { /* canonical JSONL */
        pred_fields f = {where,
                         json_object_get(v, "id"),
                         json_object_get(v, "question_type"),
                         json_object_get(v, "options"),
                         json_object_get(v, "all_choices"),
                         json_object_get(v, "index2ans"),
                         json_object_get(v, "answer"),
                         json_object_get(v, "answer_hf"),
                         json_object_get(v, "response"),
                         0};
        return score_fields(c, &f, err);
    }
    /* Evaluate-only {id: prediction}: needs the answer dict. */
    if (!c->questions)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: an evaluate-only {id: prediction} object needs --questions "
                             "(the answer dict)",
                             where);
    const char *id;
    json_t *p;
    json_object_foreach(v, id, p) {
        char w[1200];
        snprintf(w, sizeof w, "%s: '%s'", where, id);
        json_t *jid = json_string(id);
        pred_fields f = {w, jid, NULL, NULL, NULL, NULL, NULL, NULL, p, 0};
        vlm_status st = score_fields(c, &f, err);
        json_decref(jid);
        if (st != VLM_OK)
            return st;
    }
    return VLM_OK;
}

/* One question record (HF fields) into the questions map. */
static vlm_status add_hf_question(load_ctx *c, const char *where, json_t *r, vlm_error *err) {
    json_t *id = json_object_get(r, "id"), *qt = json_object_get(r, "question_type"),
           *ans = json_object_get(r, "answer"), *opts = json_object_get(r, "options");
    if (!json_is_string(id))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: missing or non-string field 'id'", where);
    if (!json_is_string(qt))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: id '%s': missing field 'question_type'",
                             where, json_string_value(id));
    int mc = !strcmp(json_string_value(qt), "multiple-choice");
    json_t *gold = ans ? gold_list(ans, !mc) : NULL;
    json_t *ol = opts ? options_list(opts) : NULL;
    if (!gold || (opts && !ol)) {
        json_decref(gold);
        json_decref(ol);
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: id '%s': malformed field '%s'", where,
                             json_string_value(id), gold ? "options" : "answer");
    }
    json_t *q = json_pack("{s:b, s:o}", "mc", mc, "gold", gold);
    if (json_is_string(ans))
        json_object_set(q, "gold_hf", ans);
    if (ol)
        json_object_set_new(q, "options", ol);
    if (json_object_get(c->questions, json_string_value(id)))
        vlm_warnf(&c->warn, "%s: question id '%s' repeated: the last one is used", where,
                  json_string_value(id));
    json_object_set_new(c->questions, json_string_value(id), q);
    return VLM_OK;
}

static vlm_status add_hf_question_fn(void *ctx, const char *where, json_t *r, vlm_error *err) {
    return add_hf_question(ctx, where, r, err);
}

static vlm_status question_doc(void *ctx, const char *name, int line, json_t *v, vlm_error *err) {
    load_ctx *c = ctx;
    char where[1100];
    snprintf(where, sizeof where, line ? "%s:%d" : "%s", name, line);
    if (json_is_array(v))
        return vlm_json_each_object(v, where, "item", add_hf_question_fn, c, err);
    if (!json_is_object(v))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: expected a JSON object or list", where);
    if (json_object_get(v, "id"))
        return add_hf_question(c, where, v, err);
    /* The official answer dict: {id: {"question_type", "ground_truth"}}. */
    const char *id;
    json_t *e;
    json_object_foreach(v, id, e) {
        json_t *qt = json_object_get(e, "question_type"), *gt = json_object_get(e, "ground_truth");
        json_t *gold = gt ? gold_list(gt, 0) : NULL;
        if (!json_is_string(qt) || !gold) {
            json_decref(gold);
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: '%s': needs string 'question_type' and 'ground_truth' (a "
                                 "string or a list of strings)",
                                 where, id);
        }
        json_object_set_new(c->questions, id,
                            json_pack("{s:b, s:o}", "mc",
                                      !strcmp(json_string_value(qt), "multiple-choice"), "gold",
                                      gold));
    }
    return VLM_OK;
}

vlm_status vlm_mmmu_load(vlm_mmmu_scorer *sc, const char *questions, const char *pred,
                         char **warnings, vlm_error *err) {
    if (warnings)
        *warnings = NULL;
    load_ctx c = {.sc = sc, .pred_path = pred};
    vlm_status st = VLM_OK;
    if (questions) {
        c.questions = json_object();
        c.answered = json_object();
        if (!c.questions || !c.answered)
            st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        if (st == VLM_OK)
            st = vlm_json_source_each(questions, question_doc, &c, err);
    }
    size_t before = sc->n;
    if (st == VLM_OK && !(c.pe_docs = json_object()))
        st = vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    if (st == VLM_OK)
        st = vlm_json_source_each(pred, pred_doc, &c, err);
    if (st == VLM_OK)
        st = score_pe_docs(&c, err);
    if (st == VLM_OK && sc->n == before && c.n_unknown == 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no MMMU predictions found", pred);
    if (st == VLM_OK) {
        sc->n_unknown += c.n_unknown;
        if (c.questions)
            sc->n_missing = (int)(json_object_size(c.questions) - json_object_size(c.answered));
        if (sc->n_duplicate)
            vlm_warnf(&c.warn,
                  "%d prediction(s) repeat an id already scored: every record was scored "
                  "(official behaviour)",
                  sc->n_duplicate);
    }
    json_decref(c.questions);
    json_decref(c.answered);
    json_decref(c.pe_docs);
    if (warnings && st == VLM_OK)
        *warnings = vlm_warnings_take(&c.warn);
    vlm_warnings_free(&c.warn);
    return st;
}
