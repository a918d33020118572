/* SEED-Bench-1 scoring (shared/spec/eval.md section 2): the official likelihood ranking and
 * the lmms-eval and VLMEvalKit generative rules, per dimension and in total. */
#include "eval/eval.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const DIMENSIONS[13] = {
    NULL,
    "Scene Understanding",
    "Instance Identity",
    "Instance Attributes",
    "Instance Location",
    "Instances Counting",
    "Spatial Relation",
    "Instance Interaction",
    "Visual Reasoning",
    "Text Understanding",
    "Action Recognition",
    "Action Prediction",
    "Procedure Understanding",
};

const char *vlm_seed_dimension_name(int dim) {
    return dim >= 1 && dim <= 12 ? DIMENSIONS[dim] : NULL;
}

const char *vlm_seed_mode_name(vlm_seed_mode mode) {
    switch (mode) {
    case VLM_SEED_LIKELIHOOD: return "likelihood";
    case VLM_SEED_LMMS_EVAL: return "lmms_eval";
    case VLM_SEED_VLMEVALKIT: return "vlmevalkit";
    }
    return "?";
}

vlm_status vlm_seed_mode_parse(const char *text, vlm_seed_mode *out, vlm_error *err) {
    for (int m = VLM_SEED_LIKELIHOOD; m <= VLM_SEED_VLMEVALKIT; m++)
        if (!strcmp(text, vlm_seed_mode_name((vlm_seed_mode)m))) {
            *out = (vlm_seed_mode)m;
            return VLM_OK;
        }
    return vlm_error_set(err, VLM_ERR_INVALID,
                         "unknown SEED-Bench mode '%s' (likelihood, lmms_eval, vlmevalkit)", text);
}

int vlm_seed_pick_loss(const double *losses, int n) {
    int best = -1;
    for (int i = 0; i < n; i++) /* strict '<': equal losses keep the lowest letter */
        if (!isnan(losses[i]) && (best < 0 || losses[i] < losses[best]))
            best = i;
    return best < 0 ? 0 : best; /* all NaN: the lowest letter */
}

/* Code point length of the UTF-8 sequence starting with byte b. */
static size_t cp_bytes(unsigned char b) {
    return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

int vlm_seed_judge_lmms(const char *output, size_t len, const char *answer) {
    /* pred = output.strip(); pred = pred[0] if len(pred) > 1; then
     * pred.lower().strip() == answer.lower().strip() (lmms-eval seedbench/utils.py). */
    const char *p = output + vlm_py_strip(output, &len);
    if (len > 0 && cp_bytes((unsigned char)p[0]) < len)
        len = cp_bytes((unsigned char)p[0]);
    size_t pl, al, an = strlen(answer);
    char *lp = vlm_py_lower(p, len, &pl), *la = vlm_py_lower(answer, an, &al);
    int ok = 0;
    if (lp && la) {
        size_t po = vlm_py_strip(lp, &pl), ao = vlm_py_strip(la, &al);
        ok = pl == al && !memcmp(lp + po, la + ao, pl);
    }
    free(lp);
    free(la);
    return ok;
}

static vlm_regex *g_answer_is;
static pthread_once_t g_answer_once = PTHREAD_ONCE_INIT;

static void answer_re_init(void) {
    vlm_regex_compile("(?i)(?:correct\\s+)?answer\\s+is\\s+\\**([ABCD])\\**", &g_answer_is, NULL);
}

typedef struct tok {
    const char *p;
    size_t n;
} tok;

char vlm_seed_match_vlmevalkit(const char *output, size_t len, const char *const options[4]) {
    static const char *const REJECT[] = {
        "Sorry, I can't help with images of people yet.", "I can't process this file.",
        "I'm sorry, but without the image provided", "Cannot determine the answer"};
    int failed = memmem(output, len, "Failed to obtain answer via API", 31) != NULL;
    char pred = 0;
    if (!failed) {
        for (int i = 0; i < 4; i++)
            if (memmem(output, len, REJECT[i], strlen(REJECT[i])))
                return 'Z';
        /* Rule 2: punctuation to spaces, whitespace split. */
        char *mod = malloc(len + 1);
        tok *toks = malloc(sizeof *toks * (len / 2 + 1));
        if (mod && toks) {
            memcpy(mod, output, len);
            for (size_t i = 0; i < len; i++)
                if (strchr(".()[],:;!*#{}", mod[i]) && mod[i])
                    mod[i] = ' ';
            size_t nt = 0, i = 0;
            while (i < len) { /* Python whitespace split over code points */
                size_t a = i;
                size_t n = cp_bytes((unsigned char)mod[i]);
                uint32_t c = (unsigned char)mod[i];
                if (n > 1 && i + n <= len) {
                    c &= 0x3Fu >> (n - 1);
                    for (size_t k = 1; k < n; k++)
                        c = (c << 6) | ((unsigned char)mod[i + k] & 0x3Fu);
                }
                i += n > len - i ? len - i : n;
                if (vlm_py_isspace(c))
                    continue;
                if (nt > 0 && toks[nt - 1].p + toks[nt - 1].n == mod + a)
                    toks[nt - 1].n += i - a;
                else
                    toks[nt++] = (tok){mod + a, i - a};
            }
            /* Rule 3: exactly one of A-D as a token, first seen among the last four. */
            long first[4] = {-1, -1, -1, -1};
            int count = 0, has_z = 0;
            for (size_t t = 0; t < nt; t++)
                if (toks[t].n == 1) {
                    char ch = toks[t].p[0];
                    if (ch >= 'A' && ch <= 'D' && first[ch - 'A'] < 0)
                        first[ch - 'A'] = (long)t, count++;
                    has_z |= ch == 'Z';
                }
            if (count == 1) {
                for (int k = 0; k < 4; k++)
                    if (first[k] >= 0 && first[k] > (long)nt - 5)
                        pred = (char)('A' + k);
            } else if (count == 0 && has_z) {
                pred = 'Z';
            }
        }
        free(mod);
        free(toks);
        if (pred)
            return pred;
        /* Rule 4: "answer is X" (verbose outputs). */
        pthread_once(&g_answer_once, answer_re_init);
        vlm_regex_match *m = NULL;
        size_t nm = 0;
        if (g_answer_is && vlm_regex_findall(g_answer_is, output, len, &m, &nm, NULL) == VLM_OK &&
            nm > 0) {
            size_t e = m[0].end;
            while (e > m[0].start && output[e - 1] == '*')
                e--;
            char ch = output[e - 1];
            pred = (char)(ch >= 'a' ? ch - 32 : ch);
        }
        free(m);
        if (pred)
            return pred;
    }
    /* Rule 5: exactly one option text inside a not-too-long output. */
    size_t ol, total = 0;
    char *lo = vlm_py_lower(output, len, &ol);
    if (!lo)
        return 'Z';
    for (int k = 0; k < 4; k++)
        total += vlm_py_len(options[k], strlen(options[k]));
    int hits = 0;
    if (vlm_py_len(lo, ol) <= 2 * total)
        for (int k = 0; k < 4; k++) {
            size_t tl;
            char *lt = vlm_py_lower(options[k], strlen(options[k]), &tl);
            if (lt && memmem(lo, ol, lt, tl))
                hits++, pred = (char)('A' + k);
            free(lt);
        }
    free(lo);
    return hits == 1 ? pred : 'Z';
}

/* ---- the scorer ---- */

typedef struct seed_item {
    char *qid;
    int dim;
    int correct;
    char pred[8];
} seed_item;

struct vlm_seed_scorer {
    vlm_seed_mode mode;
    seed_item *items;
    size_t n, cap;
    int n_missing, n_unknown, n_duplicate;
    json_t *questions;     /* qid -> {"answer", "dim", "options"} */
    json_t *scored;        /* qid -> true */
    const char *pred_path; /* borrowed during vlm_seed_load */
    vlm_warnings warn;
};

vlm_status vlm_seed_scorer_create(vlm_seed_mode mode, vlm_seed_scorer **out, vlm_error *err) {
    vlm_seed_scorer *sc = calloc(1, sizeof *sc);
    if (!sc || !(sc->questions = json_object()) || !(sc->scored = json_object())) {
        if (sc)
            json_decref(sc->questions);
        free(sc);
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    }
    sc->mode = mode;
    *out = sc;
    return VLM_OK;
}

void vlm_seed_scorer_destroy(vlm_seed_scorer *sc) {
    if (!sc)
        return;
    for (size_t i = 0; i < sc->n; i++)
        free(sc->items[i].qid);
    free(sc->items);
    json_decref(sc->questions);
    json_decref(sc->scored);
    vlm_warnings_free(&sc->warn);
    free(sc);
}

/* question_id as text: a string, or an integer written in decimal. */
static const char *qid_text(json_t *v, char *buf, size_t n) {
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

static vlm_status add_question(vlm_seed_scorer *sc, const char *where, json_t *q, vlm_error *err) {
    char b[32];
    const char *qid = qid_text(json_object_get(q, "question_id"), b, sizeof b);
    if (!qid)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: missing field 'question_id'", where);
    json_t *ans = json_object_get(q, "answer"), *dim = json_object_get(q, "question_type_id");
    long d = json_is_integer(dim)  ? (long)json_integer_value(dim)
             : json_is_string(dim) ? strtol(json_string_value(dim), NULL, 10)
                                   : 0;
    if (!json_is_string(ans))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: question '%s': missing field 'answer'",
                             where, qid);
    if (d < 1 || d > 12)
        return vlm_error_set(err, VLM_ERR_FORMAT,
                             "%s: question '%s': 'question_type_id' must be 1..12", where, qid);
    json_t *opts = json_array();
    static const char *const CH[4] = {"choice_a", "choice_b", "choice_c", "choice_d"};
    for (int k = 0; k < 4; k++) {
        json_t *o = json_object_get(q, CH[k]);
        json_array_append_new(opts, json_string(json_is_string(o) ? json_string_value(o) : ""));
    }
    if (json_object_get(sc->questions, qid))
        vlm_warnf(&sc->warn, "%s: question '%s' repeated: the last one is used", where, qid);
    json_object_set_new(
        sc->questions, qid,
        json_pack("{s:O, s:i, s:o}", "answer", ans, "dim", (int)d, "options", opts));
    return VLM_OK;
}

static vlm_status add_question_fn(void *ctx, const char *where, json_t *q, vlm_error *err) {
    return add_question(ctx, where, q, err);
}

static vlm_status question_doc(void *ctx, const char *name, int line, json_t *v, vlm_error *err) {
    vlm_seed_scorer *sc = ctx;
    char where[1100];
    snprintf(where, sizeof where, line ? "%s:%d" : "%s", name, line);
    json_t *list = json_is_object(v) ? json_object_get(v, "questions") : v;
    if (json_is_object(v) && !list)
        return add_question(sc, where, v, err); /* JSON Lines of questions */
    if (!json_is_array(list))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: expected {\"questions\": [...]}", where);
    return vlm_json_each_object(list, where, "questions", add_question_fn, sc, err);
}

/* A loss: a number or "nan" / "inf" / "-inf". */
static int loss_value(json_t *v, double *out) {
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    if (!strcmp(s, "nan"))
        *out = NAN;
    else if (!strcmp(s, "inf"))
        *out = INFINITY;
    else if (!strcmp(s, "-inf"))
        *out = -INFINITY;
    else
        return 0;
    return 1;
}

static vlm_status score_pred(vlm_seed_scorer *sc, const char *where, json_t *rec, vlm_error *err) {
    /* lmms-eval --log_samples: the payload carries question_id; the text is filtered_resps. */
    json_t *payload = json_object_get(rec, "seed_all");
    if (!payload)
        payload = json_object_get(rec, "seed_image");
    if (!payload)
        payload = json_object_get(rec, "seed_video");
    json_t *idsrc = json_is_object(payload) ? payload : rec;
    char b[32];
    const char *qid = qid_text(json_object_get(idsrc, "question_id"), b, sizeof b);
    if (!qid)
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: missing field 'question_id'", where);
    json_t *q = json_object_get(sc->questions, qid);
    if (!q) {
        sc->n_unknown++;
        vlm_warnf(&sc->warn, "%s: question_id '%s' is not in the questions: skipped", where,
                  qid);
        return VLM_OK;
    }
    if (json_object_get(sc->scored, qid)) {
        sc->n_duplicate++;
        vlm_warnf(&sc->warn,
                  "%s: question_id '%s' repeated: only the first prediction is scored", where,
                  qid);
        return VLM_OK;
    }
    json_t *response = json_object_get(rec, "response");
    if (!response && payload) {
        response = json_object_get(rec, "filtered_resps");
        for (int d = 0; d < 3 && json_is_array(response); d++)
            response = json_array_get(response, 0);
    }
    json_t *losses = json_object_get(rec, "losses"),
           *prediction = json_object_get(rec, "prediction");
    const char *answer = json_string_value(json_object_get(q, "answer"));
    seed_item it = {0};
    it.dim = (int)json_integer_value(json_object_get(q, "dim"));
    if (json_is_string(prediction)) { /* an already-final letter (official results.json) */
        snprintf(it.pred, sizeof it.pred, "%.7s", json_string_value(prediction));
        it.correct = !strcmp(it.pred, answer);
    } else if (sc->mode == VLM_SEED_LIKELIHOOD) {
        if (!json_is_array(losses) || json_array_size(losses) != 4)
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: question '%s': likelihood mode needs 'losses' (4 values)",
                                 where, qid);
        double l[4];
        for (int k = 0; k < 4; k++)
            if (!loss_value(json_array_get(losses, (size_t)k), &l[k]))
                return vlm_error_set(err, VLM_ERR_FORMAT,
                                     "%s: question '%s': loss %d is not a number, \"nan\", "
                                     "\"inf\" or \"-inf\"",
                                     where, qid, k);
        it.pred[0] = (char)('A' + vlm_seed_pick_loss(l, 4));
        it.correct = it.pred[0] == answer[0] && answer[1] == '\0';
    } else {
        if (!json_is_string(response))
            return vlm_error_set(err, VLM_ERR_FORMAT,
                                 "%s: question '%s': missing or non-string field 'response'", where,
                                 qid);
        const char *r = json_string_value(response);
        size_t rn = json_string_length(response);
        if (sc->mode == VLM_SEED_LMMS_EVAL) {
            size_t n = rn;
            const char *p = r + vlm_py_strip(r, &n);
            if (n > 0)
                n = cp_bytes((unsigned char)p[0]) < n ? cp_bytes((unsigned char)p[0]) : n;
            memcpy(it.pred, p, n);
            it.correct = vlm_seed_judge_lmms(r, rn, answer);
        } else {
            json_t *o = json_object_get(q, "options");
            const char *opts[4];
            for (int k = 0; k < 4; k++)
                opts[k] = json_string_value(json_array_get(o, (size_t)k));
            it.pred[0] = vlm_seed_match_vlmevalkit(r, rn, opts);
            it.correct = it.pred[0] == answer[0] && answer[1] == '\0';
        }
    }
    it.qid = strdup(qid);
    if (!it.qid)
        return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 256;
        seed_item *v = realloc(sc->items, cap * sizeof *v);
        if (!v) {
            free(it.qid);
            return vlm_error_set(err, VLM_ERR_NOMEM, "out of memory");
        }
        sc->items = v;
        sc->cap = cap;
    }
    sc->items[sc->n++] = it;
    json_object_set_new(sc->scored, qid, json_true());
    return VLM_OK;
}

/* Reads JSON Lines / JSON members of a directory or archive: predictions only. */
static int wanted_member(const char *name) {
    size_t n = strlen(name);
    return (n > 6 && !strcmp(name + n - 6, ".jsonl")) || (n > 5 && !strcmp(name + n - 5, ".json"));
}

static vlm_status score_pred_fn(void *ctx, const char *where, json_t *rec, vlm_error *err) {
    return score_pred(ctx, where, rec, err);
}

static vlm_status pred_doc(void *ctx, const char *name, int line, json_t *v, vlm_error *err) {
    vlm_seed_scorer *sc = ctx;
    if (strcmp(name, sc->pred_path) && !wanted_member(name))
        return VLM_OK;
    char where[1100];
    snprintf(where, sizeof where, line ? "%s:%d" : "%s", name, line);
    if (json_is_array(v)) /* seed_submission.json: [{"question_id", "prediction"}] */
        return vlm_json_each_object(v, where, "item", score_pred_fn, sc, err);
    if (!json_is_object(v))
        return vlm_error_set(err, VLM_ERR_FORMAT, "%s: expected a JSON object", where);
    return score_pred(sc, where, v, err);
}

vlm_status vlm_seed_load(vlm_seed_scorer *sc, const char *questions, const char *pred,
                         char **warnings, vlm_error *err) {
    if (warnings)
        *warnings = NULL;
    vlm_status st = vlm_json_source_each(questions, question_doc, sc, err);
    if (st == VLM_OK && json_object_size(sc->questions) == 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no SEED-Bench questions found", questions);
    sc->pred_path = pred;
    if (st == VLM_OK)
        st = vlm_json_source_each(pred, pred_doc, sc, err);
    if (st == VLM_OK && sc->n == 0 && sc->n_unknown == 0 && sc->n_duplicate == 0)
        st = vlm_error_set(err, VLM_ERR_FORMAT, "%s: no SEED-Bench predictions found", pred);
    if (st != VLM_OK)
        return st;
    sc->n_missing = (int)(json_object_size(sc->questions) - json_object_size(sc->scored));
    if (warnings)
        *warnings = vlm_warnings_take(&sc->warn);
    return VLM_OK;
}

static json_t *stat_json(long num, long correct) {
    return json_pack("{s:I, s:I, s:o}", "num", (json_int_t)num, "correct", (json_int_t)correct,
                     "acc", num ? json_real((double)correct / (double)num) : json_null());
}

json_t *vlm_seed_scorer_json(const vlm_seed_scorer *sc) {
    long num[13] = {0}, cor[13] = {0};
    for (size_t i = 0; i < sc->n; i++) {
        num[sc->items[i].dim]++;
        cor[sc->items[i].dim] += sc->items[i].correct;
    }
    json_t *root = json_object(), *dims = json_object(), *per = json_object();
    if (!root || !dims || !per) {
        json_decref(root), json_decref(dims), json_decref(per);
        return NULL;
    }
    long in = 0, ic = 0, vn = 0, vc = 0, dims_with_items = 0;
    double macro = 0;
    for (int d = 1; d <= 12; d++) {
        char key[16];
        snprintf(key, sizeof key, "%d", d);
        json_t *s = stat_json(num[d], cor[d]);
        json_object_set_new(s, "name", json_string(DIMENSIONS[d]));
        json_object_set_new(dims, key, s);
        if (d <= 9) {
            in += num[d], ic += cor[d];
            if (num[d])
                macro += (double)cor[d] / (double)num[d], dims_with_items++;
        } else {
            vn += num[d], vc += cor[d];
        }
    }
    json_object_set_new(root, "benchmark", json_string("seedbench"));
    json_object_set_new(root, "mode", json_string(vlm_seed_mode_name(sc->mode)));
    json_object_set_new(root, "dimensions", dims);
    json_object_set_new(root, "image", stat_json(in, ic));
    json_object_set_new(root, "video", stat_json(vn, vc));
    json_object_set_new(root, "all", stat_json(in + vn, ic + vc));
    /* Not an official number: the unweighted mean over image dimensions with items. */
    json_object_set_new(root, "macro_image",
                        dims_with_items ? json_real(macro / (double)dims_with_items) : json_null());
    json_object_set_new(root, "n_missing", json_integer(sc->n_missing));
    json_object_set_new(root, "n_unknown", json_integer(sc->n_unknown));
    json_object_set_new(root, "n_duplicate", json_integer(sc->n_duplicate));
    for (size_t i = 0; i < sc->n; i++) {
        const seed_item *it = &sc->items[i];
        json_object_set_new(per, it->qid,
                            json_pack("{s:s, s:b, s:i}", "pred", it->pred, "correct", it->correct,
                                      "dimension", it->dim));
    }
    json_object_set_new(root, "per_item", per);
    return root;
}

static int cmp_qid(const void *a, const void *b) {
    return strcmp((*(const seed_item *const *)a)->qid, (*(const seed_item *const *)b)->qid);
}

json_t *vlm_seed_scorer_items(const vlm_seed_scorer *sc) {
    const seed_item **order = malloc(sizeof *order * (sc->n ? sc->n : 1));
    json_t *a = json_array();
    if (!order || !a) {
        free(order);
        json_decref(a);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < sc->n; i++)
        if (sc->items[i].dim <= 9)
            order[k++] = &sc->items[i];
    qsort(order, k, sizeof *order, cmp_qid);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(a, json_integer(order[i]->correct));
    free(order);
    return a;
}
