/* eval/seedbench.c and `vlmbench eval seedbench`: every rule, example and edge case of
 * shared/spec/eval.md section 2, inputs and bad inputs. */
#include "eval/eval.h"
#include "results/results.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUN(...) vlm_test_run((char *const[]){VLM_BIN, "eval", "seedbench", __VA_ARGS__, NULL})

VLM_TEST_TMPDIR_SUITE(seedbench)

/* ---- likelihood, spec 2.2 ---- */

Test(seedbench, likelihood_smallest_loss) {
    double l[4] = {3.5, 1.25, 2.0, 9.0};
    cr_assert_eq(vlm_seed_pick_loss(l, 4), 1);
}

Test(seedbench, likelihood_ties_lowest_letter) {
    double l[4] = {2.0, 1.0, 1.0, 1.0};
    cr_assert_eq(vlm_seed_pick_loss(l, 4), 1);
}

Test(seedbench, likelihood_nan_sorts_last) {
    double l[4] = {NAN, 5.0, NAN, 7.0};
    cr_assert_eq(vlm_seed_pick_loss(l, 4), 1);
    double all[4] = {NAN, NAN, NAN, NAN};
    cr_assert_eq(vlm_seed_pick_loss(all, 4), 0);
    double inf[4] = {INFINITY, NAN, INFINITY, -INFINITY};
    cr_assert_eq(vlm_seed_pick_loss(inf, 4), 3);
}

/* ---- lmms-eval, spec 2.3 ---- */

static int lmms(const char *out, const char *answer) {
    return vlm_seed_judge_lmms(out, strlen(out), answer);
}

Test(seedbench, lmms_correct_forms) {
    const char *ok[] = {"b", " B", "\nB\n", "B.", "B. dog", "B and C", "b) cooking"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_expect(lmms(ok[i], "B"), "'%s'", ok[i]);
    cr_expect(lmms("AB", "A"));
}

Test(seedbench, lmms_wrong_forms) {
    const char *bad[] = {"(B)", "**B**", "The answer is B", "Option B", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!lmms(bad[i], "B"), "'%s'", bad[i]);
}

Test(seedbench, lmms_first_character_decides) {
    cr_expect(lmms("Answer: B", "A"));
    cr_expect(!lmms("Answer: B", "B"));
    cr_expect(lmms("Cannot determine from the image", "C"));
}

Test(seedbench, lmms_unicode_whitespace) {
    cr_expect(lmms("\xC2\xA0"
                   "B",
                   "B")); /* NBSP stripped */
    cr_expect(lmms("\xE3\x80\x80"
                   "B",
                   "B")); /* U+3000 stripped */
    cr_expect(!lmms("\xE2\x80\x8B"
                    "B",
                    "B"));                 /* U+200B is not whitespace */
    cr_expect(!lmms("\xEF\xBC\xA2", "B")); /* full-width B */
}

/* ---- VLMEvalKit, spec 2.3 ---- */

static const char *const OPTS[4] = {"sleeping", "cooking", "running", "eating"};

static char vk(const char *out) {
    return vlm_seed_match_vlmevalkit(out, strlen(out), OPTS);
}

Test(seedbench, vlmevalkit_single_letter_token) {
    cr_expect_eq(vk("B"), 'B');
    cr_expect_eq(vk("The answer is B."), 'B');
    cr_expect_eq(vk("(C)"), 'C');
    cr_expect_eq(vk("**D**"), 'D');
}

Test(seedbench, vlmevalkit_letter_must_be_in_last_four_tokens) {
    cr_expect_eq(vk("B because the person in the picture is standing by the stove"), 'Z');
    cr_expect_eq(vk("I would say that it is B"), 'B');
}

Test(seedbench, vlmevalkit_several_letters_go_on) {
    cr_expect_eq(vk("A or B"), 'Z');
    cr_expect_eq(vk("A or B, the correct answer is C"), 'C'); /* rule 4 */
}

Test(seedbench, vlmevalkit_verbose_answer_is_regex) {
    cr_expect_eq(vk("The correct answer is **C** and I explain why at length in this sentence"),
                 'C');
    cr_expect_eq(vk("so the ANSWER IS d which follows from the arguments listed before here"), 'D');
}

Test(seedbench, vlmevalkit_z_token_and_rejections) {
    cr_expect_eq(vk("Z"), 'Z');
    cr_expect_eq(vk("Sorry, I can't help with images of people yet. B"), 'Z');
    cr_expect_eq(vk("Cannot determine the answer"), 'Z');
}

Test(seedbench, vlmevalkit_option_text_rule) {
    cr_expect_eq(vk("cooking"), 'B');
    cr_expect_eq(vk("The man is Cooking"), 'B');
    cr_expect_eq(vk("cooking or eating"), 'Z'); /* two option texts */
    cr_expect_eq(vk("c"), 'Z');                 /* lower-case letter is not a choice */
}

Test(seedbench, vlmevalkit_option_text_length_limit) {
    char longer[256];
    snprintf(longer, sizeof longer, "%s", "cooking ");
    for (int i = 0; i < 10; i++)
        strcat(longer, "words words ");
    cr_expect_eq(vk(longer), 'Z'); /* longer than twice the options' total length */
}

Test(seedbench, vlmevalkit_failed_api_skips_letter_rules) {
    cr_expect_eq(vk("Failed to obtain answer via API B"), 'Z');
    cr_expect_eq(vk("Failed to obtain answer via API cooking"), 'B');
}

Test(seedbench, empty_output_wrong_in_both_generative_modes) {
    cr_expect(!lmms("", "A"));
    cr_expect_eq(vk(""), 'Z');
}

/* ---- differential test against the rules restated in Python ---- */

static const char SEED_REF_PY[] =
    "# SEED-Bench generative rules restated from shared/spec/eval.md 2.3, and a seeded generator "
    "of\n"
    "# tricky outputs printing each case with the reference verdicts.\n"
    "import json, random, re, sys\n"
    "REJECT = [\"Sorry, I can't help with images of people yet.\", \"I can't process this "
    "file.\",\n"
    "          \"I'm sorry, but without the image provided\", \"Cannot determine the answer\"]\n"
    "def lmms(out, ans):\n"
    "    p = out.strip()\n"
    "    if len(p) > 1:\n"
    "        p = p[0]\n"
    "    return p.lower().strip() == ans.lower().strip()\n"
    "def vk(out, opts):\n"
    "    if 'Failed to obtain answer via API' not in out:\n"
    "        for e in REJECT:\n"
    "            if e in out:\n"
    "                return 'Z'\n"
    "        mod = out\n"
    "        for c in '.()[],:;!*#{}':\n"
    "            mod = mod.replace(c, ' ')\n"
    "        toks = mod.split()\n"
    "        present = [c for c in 'ABCD' if c in toks]\n"
    "        if len(present) == 1:\n"
    "            if toks.index(present[0]) > len(toks) - 5:\n"
    "                return present[0]\n"
    "        elif not present and 'Z' in toks:\n"
    "            return 'Z'\n"
    "        m = re.search(r'(?i)(?:correct\\s+)?answer\\s+is\\s+\\**([ABCD])\\**', out)\n"
    "        if m:\n"
    "            return m.group(1).upper()\n"
    "    low = out.lower()\n"
    "    if len(low) <= 2 * sum(len(o) for o in opts):\n"
    "        hits = ['ABCD'[i] for i, o in enumerate(opts) if o.lower() in low]\n"
    "        if len(hits) == 1:\n"
    "            return hits[0]\n"
    "    return 'Z'\n"
    "T = [\"A\", \"B\", \"C\", \"D\", \"Z\", \"a\", \"b\", \"c\", \" \", \"  \", \"\\n\", \".\", "
    "\"(\", \")\", \"*\", \"**\", \"answer is \",\n"
    "     \"The correct answer is \", \"Answer: \", \"cooking\", \"Cooking\", \"eating\", "
    "\"run\",\n"
    "     \"Failed to obtain answer via API\", \"Cannot determine the answer\", \"\\u00a0\", "
    "\"\\u3000\", \"\\u200b\",\n"
    "     \"\\u0130\", \"\\uff22\", \"x\", \"because \", \"option \", \"{\", \"#\", \"ANSWER IS\", "
    "\"\\t\"]\n"
    "OPTS = [[\"sleeping\", \"cooking\", \"running\", \"eating\"], [\"a\", \"b\", \"c\", \"d\"],\n"
    "        [\"\\u0130stanbul\", \"run\", \"Cooking pot\", \"x\"]]\n"
    "rng = random.Random(int(sys.argv[1]))\n"
    "for i in range(int(sys.argv[2])):\n"
    "    out = \"\".join(rng.choice(T) for _ in range(rng.randint(0, 10)))\n"
    "    opts = rng.choice(OPTS)\n"
    "    ans = rng.choice(\"ABCD\")\n"
    "    print(json.dumps({\"out\": out, \"opts\": opts, \"answer\": ans, \"lmms\": lmms(out, "
    "ans),\n"
    "                      \"vk\": vk(out, opts)}))\n"
    "\n";

Test(seedbench, generative_rules_agree_with_python_reference_on_3000_cases) {
    vlm_test_write_text(tpath("seedref.py"), SEED_REF_PY);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "import runpy, sys\nsys.argv = ['ref', '5', '3000']\n"
             "sys.stdout = open('%s', 'w')\nrunpy.run_path('%s')\n",
             tpath("cases.jsonl"), tpath("seedref.py"));
    vlm_run r = vlm_test_run((char *const[]){VLM_PYTHON, "-c", cmd, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    FILE *f = fopen(tpath("cases.jsonl"), "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        cr_assert_not_null(c, "%s", je.text);
        json_t *out = json_object_get(c, "out"), *opts = json_object_get(c, "opts");
        const char *o[4];
        for (int k = 0; k < 4; k++)
            o[k] = json_string_value(json_array_get(opts, (size_t)k));
        const char *answer = json_string_value(json_object_get(c, "answer"));
        cr_assert_eq(vlm_seed_judge_lmms(json_string_value(out), json_string_length(out), answer),
                     json_is_true(json_object_get(c, "lmms")), "lmms of %s", line);
        char got = vlm_seed_match_vlmevalkit(json_string_value(out), json_string_length(out), o);
        cr_assert_eq(got, json_string_value(json_object_get(c, "vk"))[0], "vlmevalkit of %s: %c",
                     line, got);
        json_decref(c);
        n++;
    }
    free(line);
    fclose(f);
    cr_assert_eq(n, 3000);
}

Test(seedbench, dimension_names) {
    cr_expect_str_eq(vlm_seed_dimension_name(1), "Scene Understanding");
    cr_expect_str_eq(vlm_seed_dimension_name(9), "Text Understanding");
    cr_expect_str_eq(vlm_seed_dimension_name(12), "Procedure Understanding");
    cr_expect_null(vlm_seed_dimension_name(0));
    cr_expect_null(vlm_seed_dimension_name(13));
}

/* ---- the scorer: inputs and aggregation, spec 2.1, 2.4 ---- */

static const char QUESTIONS[] =
    "{\"questions\": ["
    "{\"question_id\": \"101\", \"question\": \"q\", \"choice_a\": \"sleeping\", \"choice_b\": "
    "\"cooking\", \"choice_c\": \"running\", \"choice_d\": \"eating\", \"answer\": \"B\", "
    "\"data_id\": \"1.jpg\", \"data_type\": \"image\", \"question_type_id\": 1},"
    "{\"question_id\": \"102\", \"question\": \"q\", \"choice_a\": \"a\", \"choice_b\": \"b\", "
    "\"choice_c\": \"c\", \"choice_d\": \"d\", \"answer\": \"A\", \"data_id\": \"2.jpg\", "
    "\"data_type\": \"image\", \"question_type_id\": 1},"
    "{\"question_id\": \"103\", \"question\": \"q\", \"choice_a\": \"a\", \"choice_b\": \"b\", "
    "\"choice_c\": \"c\", \"choice_d\": \"d\", \"answer\": \"D\", \"data_id\": \"3.jpg\", "
    "\"data_type\": \"image\", \"question_type_id\": 5},"
    "{\"question_id\": \"v1\", \"question\": \"q\", \"choice_a\": \"a\", \"choice_b\": \"b\", "
    "\"choice_c\": \"c\", \"choice_d\": \"d\", \"answer\": \"C\", \"data_id\": \"v.mp4\", "
    "\"data_type\": \"video\", \"question_type_id\": 10},"
    "{\"question_id\": \"104\", \"question\": \"q\", \"choice_a\": \"a\", \"choice_b\": \"b\", "
    "\"choice_c\": \"c\", \"choice_d\": \"d\", \"answer\": \"A\", \"data_id\": \"4.jpg\", "
    "\"data_type\": \"image\", \"question_type_id\": 9}"
    "], \"question_type\": {\"Scene Understanding\": 1}}";

static json_t *load(vlm_seed_mode mode, const char *preds, char **warnings) {
    vlm_test_write_text(tpath("q.json"), QUESTIONS);
    vlm_test_write_text(tpath("p.jsonl"), preds);
    vlm_seed_scorer *sc;
    vlm_error err = {0};
    cr_assert_eq(vlm_seed_scorer_create(mode, &sc, &err), VLM_OK);
    char *w = NULL;
    cr_assert_eq(vlm_seed_load(sc, tpath("q.json"), tpath("p.jsonl"), &w, &err), VLM_OK, "%s",
                 err.msg);
    if (warnings)
        *warnings = w;
    else
        free(w);
    json_t *s = vlm_seed_scorer_json(sc);
    vlm_seed_scorer_destroy(sc);
    return s;
}

static vlm_status load_err(vlm_seed_mode mode, const char *questions, const char *preds,
                           vlm_error *err) {
    vlm_test_write_text(tpath("q.json"), questions);
    vlm_test_write_text(tpath("p.jsonl"), preds);
    vlm_seed_scorer *sc;
    cr_assert_eq(vlm_seed_scorer_create(mode, &sc, err), VLM_OK);
    vlm_status st = vlm_seed_load(sc, tpath("q.json"), tpath("p.jsonl"), NULL, err);
    vlm_seed_scorer_destroy(sc);
    return st;
}

static long geti(json_t *o, const char *a, const char *b) {
    json_t *x = json_object_get(o, a);
    return (long)json_integer_value(b ? json_object_get(x, b) : x);
}

static const char LOSSES[] = "{\"question_id\": \"101\", \"losses\": [3.0, 1.0, 2.0, 4.0]}\n"
                             "{\"question_id\": \"102\", \"losses\": [\"nan\", 1.0, 1.0, 2.0]}\n"
                             "{\"question_id\": 103, \"losses\": [1, 1, \"inf\", 0.5]}\n"
                             "{\"question_id\": \"v1\", \"losses\": [\"-inf\", 0, 0, 0]}\n";

Test(seedbench, aggregation_dimensions_image_video_all) {
    json_t *s = load(VLM_SEED_LIKELIHOOD, LOSSES, NULL);
    json_t *dims = json_object_get(s, "dimensions");
    cr_assert_eq(json_object_size(dims), 12);
    cr_expect_eq(geti(dims, "1", "num"), 2);
    cr_expect_eq(geti(dims, "1", "correct"), 1);
    cr_expect_float_eq(json_real_value(json_object_get(json_object_get(dims, "1"), "acc")), 0.5, 0);
    cr_expect_eq(geti(dims, "5", "correct"), 1);
    cr_expect(json_is_null(json_object_get(json_object_get(dims, "2"), "acc")));
    cr_expect_eq(geti(dims, "10", "correct"), 0); /* -inf picks A, answer C */
    cr_expect_eq(geti(s, "image", "num"), 3);
    cr_expect_eq(geti(s, "image", "correct"), 2);
    cr_expect_eq(geti(s, "video", "num"), 1);
    cr_expect_eq(geti(s, "all", "num"), 4);
    cr_expect_eq(geti(s, "all", "correct"), 2);
    cr_expect_eq(geti(s, "n_missing", NULL), 1); /* 104 */
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(s, "per_item"), "102"), "pred")),
                     "B");
    /* macro over image dimensions with items: (1/2 + 1/1) / 2, labelled as not official */
    cr_expect_float_eq(json_real_value(json_object_get(s, "macro_image")), 0.75, 1e-15);
    json_decref(s);
}

Test(seedbench, dimension_with_no_correct_answer_is_zero) {
    json_t *s =
        load(VLM_SEED_LIKELIHOOD, "{\"question_id\": \"104\", \"losses\": [9, 1, 1, 1]}\n", NULL);
    json_t *d9 = json_object_get(json_object_get(s, "dimensions"), "9");
    cr_expect_eq(geti(d9, "num", NULL), 1);
    cr_expect_float_eq(json_real_value(json_object_get(d9, "acc")), 0.0, 0);
    cr_expect(json_is_null(json_object_get(json_object_get(s, "video"), "acc")));
    json_decref(s);
}

Test(seedbench, generative_modes_from_responses) {
    const char *p = "{\"question_id\": \"101\", \"response\": \"b) cooking\"}\n"
                    "{\"question_id\": \"102\", \"response\": \"Answer: A\"}\n"
                    "{\"question_id\": \"103\", \"response\": \"The answer is D\"}\n";
    json_t *s = load(VLM_SEED_LMMS_EVAL, p, NULL);
    cr_expect_eq(geti(s, "all", "correct"), 2); /* 101 (b), 102 (first char A) */
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(s, "per_item"), "103"), "pred")),
                     "T");
    json_decref(s);
    s = load(VLM_SEED_VLMEVALKIT, p, NULL);
    /* 101: "b) cooking" -> tokens b, cooking: no letter, option text "cooking" -> B;
     * 102: A; 103: D */
    cr_expect_eq(geti(s, "all", "correct"), 3);
    json_decref(s);
}

Test(seedbench, official_results_json_predictions) {
    json_t *s = load(VLM_SEED_LIKELIHOOD,
                     "{\"question_id\": \"101\", \"prediction\": \"B\"}\n"
                     "{\"question_id\": \"102\", \"prediction\": \"C\"}\n",
                     NULL);
    cr_expect_eq(geti(s, "all", "num"), 2);
    cr_expect_eq(geti(s, "all", "correct"), 1);
    json_decref(s);
}

Test(seedbench, lmms_log_samples_input) {
    json_t *s = load(VLM_SEED_LMMS_EVAL,
                     "{\"doc_id\": 0, \"target\": \"B\", \"filtered_resps\": [\"B\"], "
                     "\"seed_image\": {\"pred\": \"B\", \"answer\": \"B\", \"question_id\": "
                     "\"101\"}, \"seed_all\": {\"pred\": \"B\", \"answer\": \"B\", "
                     "\"question_id\": \"101\"}}\n"
                     "{\"doc_id\": 1, \"filtered_resps\": \"C\", \"seed_video\": {\"pred\": "
                     "\"C\", \"answer\": \"C\", \"question_id\": \"v1\"}}\n",
                     NULL);
    cr_expect_eq(geti(s, "all", "num"), 2);
    cr_expect_eq(geti(s, "all", "correct"), 2);
    json_decref(s);
}

Test(seedbench, unknown_and_duplicate_ids_are_counted_skips) {
    char *w = NULL;
    json_t *s = load(VLM_SEED_LIKELIHOOD,
                     "{\"question_id\": \"101\", \"prediction\": \"B\"}\n"
                     "{\"question_id\": \"101\", \"prediction\": \"A\"}\n"
                     "{\"question_id\": \"999\", \"prediction\": \"A\"}\n",
                     &w);
    cr_expect_eq(geti(s, "n_duplicate", NULL), 1);
    cr_expect_eq(geti(s, "n_unknown", NULL), 1);
    cr_expect_eq(geti(s, "all", "num"), 1);
    cr_expect_eq(geti(s, "all", "correct"), 1); /* the first prediction of 101 counts */
    cr_assert_not_null(w);
    cr_expect(strstr(w, "999") && strstr(w, "repeated"), "%s", w);
    free(w);
    json_decref(s);
}

/* ---- bad input ---- */

Test(seedbench, bad_malformed_json_line_and_column) {
    vlm_error err = {0};
    cr_assert_eq(load_err(VLM_SEED_LIKELIHOOD, QUESTIONS,
                          "{\"question_id\": \"101\", \"prediction\": \"B\"}\n"
                          "{\"question_id\": \"102\", \"prediction\": B}\n",
                          &err),
                 VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "p.jsonl:2:"), "%s", err.msg);
}

Test(seedbench, bad_missing_losses_or_response) {
    vlm_error err = {0};
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD, QUESTIONS,
                          "{\"question_id\": \"101\", \"response\": \"B\"}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "losses") && strstr(err.msg, "p.jsonl:1"), "%s", err.msg);
    cr_expect_eq(load_err(VLM_SEED_LMMS_EVAL, QUESTIONS,
                          "{\"question_id\": \"101\", \"losses\": [1, 2, 3, 4]}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "response"), "%s", err.msg);
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD, QUESTIONS,
                          "{\"question_id\": \"101\", \"losses\": [1, \"x\", 3, 4]}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "loss 1"), "%s", err.msg);
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD, QUESTIONS, "{\"losses\": [1, 2, 3, 4]}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "question_id"), "%s", err.msg);
}

Test(seedbench, bad_question_file) {
    vlm_error err = {0};
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD,
                          "{\"questions\": [{\"question_id\": \"1\", \"answer\": \"A\", "
                          "\"question_type_id\": 13}]}",
                          "{\"question_id\": \"1\", \"prediction\": \"A\"}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "question_type_id"), "%s", err.msg);
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD, "{\"questions\": [{\"question_id\": \"1\"}]}",
                          "{\"question_id\": \"1\", \"prediction\": \"A\"}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "answer"), "%s", err.msg);
}

/* A list element that is not an object is named by its index, in questions and predictions. */
Test(seedbench, bad_list_element_named_by_index) {
    vlm_error err = {0};
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD,
                          "{\"questions\": [{\"question_id\": \"1\", \"answer\": \"A\", "
                          "\"question_type_id\": 1}, 7]}",
                          "{\"question_id\": \"1\", \"prediction\": \"A\"}\n", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "q.json:1: questions[1]: not an object"), "%s", err.msg);
    cr_expect_eq(load_err(VLM_SEED_LIKELIHOOD, QUESTIONS,
                          "[{\"question_id\": \"101\", \"prediction\": \"B\"}, \"C\"]", &err),
                 VLM_ERR_FORMAT);
    cr_expect(strstr(err.msg, "p.jsonl:1: item 1: not an object"), "%s", err.msg);
}

Test(seedbench, predictions_in_a_tar_archive) {
    vlm_test_write_text(tpath("q.json"), QUESTIONS);
    mkdir(tpath("pd"), 0755);
    vlm_test_write_text(tpath("pd/part1.jsonl"), "{\"question_id\": \"101\", \"prediction\": \"B\"}\n");
    vlm_test_write_text(tpath("pd/part2.jsonl"), "{\"question_id\": \"102\", \"prediction\": \"A\"}\n");
    char prog[512];
    snprintf(prog, sizeof prog,
             "import tarfile\nt = tarfile.open('%s', 'w')\nt.add('%s', 'pd')\nt.close()\n",
             tpath("pd.tar"), tpath("pd"));
    vlm_run r = vlm_test_run((char *const[]){VLM_PYTHON, "-c", prog, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    vlm_run_free(&r);
    r = RUN("--questions", (char *)tpath("q.json"), "--pred", (char *)tpath("pd.tar"));
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "all") && strstr(r.out, "100.00"), "%s", r.out);
    vlm_run_free(&r);
}

Test(seedbench, one_megabyte_output_is_judged) {
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "B the man is cooking, (A) "[i % 26];
    big[n] = '\0';
    cr_expect(vlm_seed_judge_lmms(big, n, "B"));
    cr_expect_eq(vlm_seed_match_vlmevalkit(big, n, OPTS), 'Z'); /* A and B: too long for text */
    free(big);
}

/* ---- CLI ---- */

Test(seedbench, cli_help_and_usage_errors) {
    vlm_run r = RUN("--help");
    cr_assert_eq(r.exit_code, 0);
    cr_assert(strstr(r.out, "usage: vlmbench eval seedbench") && strstr(r.out, "vlmevalkit"));
    vlm_run_free(&r);
    r = RUN("--pred", "x");
    cr_assert_eq(r.exit_code, 2); /* no --questions */
    vlm_run_free(&r);
    r = RUN("--questions", "q", "--pred", "x", "--frobnicate");
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "--frobnicate"), "%s", r.err);
    vlm_run_free(&r);
    r = RUN("--questions", "q", "--pred", "x", "--mode", "judge");
    cr_assert_eq(r.exit_code, 2);
    vlm_run_free(&r);
}

Test(seedbench, cli_table_json_and_results_record) {
    vlm_test_write_text(tpath("q.json"), QUESTIONS);
    vlm_test_write_text(tpath("p.jsonl"), LOSSES);
    vlm_run r = RUN("--questions", (char *)tpath("q.json"), "--pred", (char *)tpath("p.jsonl"),
                    "--json", (char *)tpath("s.json"), "--per-item", "--results",
                    (char *)tpath("r.jsonl"), "--model", "fastvlm", "--res", "512");
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "Scene Understanding") && strstr(r.out, "66.67"), "%s", r.out);
    vlm_run_free(&r);
    json_error_t je;
    json_t *s = json_load_file(tpath("s.json"), 0, &je);
    cr_assert_not_null(s);
    cr_assert_str_eq(json_string_value(json_object_get(s, "benchmark")), "seedbench");
    cr_assert_str_eq(json_string_value(json_object_get(s, "mode")), "likelihood");
    json_decref(s);
    vlm_results res;
    vlm_error err = {0};
    cr_assert_eq(vlm_results_read(tpath("r.jsonl"), &res, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(res.n, 1);
    json_t *rec = res.records[0];
    cr_assert_str_eq(json_string_value(json_object_get(rec, "kind")), "eval");
    cr_assert_eq(json_integer_value(json_object_get(rec, "res")), 512);
    cr_assert_float_eq(
        json_real_value(json_object_get(json_object_get(rec, "metrics"), "seedbench_image")),
        100.0 * 2 / 3, 1e-9);
    json_t *items = json_object_get(json_object_get(rec, "metric_items"), "seedbench_image");
    cr_assert_eq(json_array_size(items), 3); /* image items 101, 102, 103 in id order */
    cr_assert_eq(json_integer_value(json_array_get(items, 0)), 1);
    cr_assert_eq(json_integer_value(json_array_get(items, 1)), 0);
    cr_assert_eq(json_integer_value(json_array_get(items, 2)), 1);
    cr_assert_not_null(json_object_get(json_object_get(rec, "eval"), "dimensions"));
    vlm_results_free(&res);
}

Test(seedbench, cli_bad_input_exit_2) {
    vlm_test_write_text(tpath("q.json"), "{\"questions\": [");
    vlm_test_write_text(tpath("p.jsonl"), LOSSES);
    vlm_run r = RUN("--questions", (char *)tpath("q.json"), "--pred", (char *)tpath("p.jsonl"));
    cr_assert_eq(r.exit_code, 2);
    cr_assert(strstr(r.err, "q.json:1:"), "%s", r.err);
    vlm_run_free(&r);
}
