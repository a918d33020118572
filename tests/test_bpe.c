/* eval/bpe.c: the CLIP BPE tokenizer. Expected ids come from a small independent Python BPE
 * (a transcription of the simple_tokenizer algorithm written here, with the regex as a
 * unicodedata scanner, html.unescape and str.lower) over a vocabulary the test trains and gzips,
 * and from cases checked by hand. Never from the code under test. */
#include "eval/eval.h"
#include "tests/testutil.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

VLM_TEST_TMPDIR_SUITE(bpe)

static void python(const char *script) {
    vlm_test_python(g_dir, "", script);
}

/* ---- hand-checked: merges "h e", "l l", "he ll", "hell o</w>" ------------------------------
 * Byte symbols of printable ASCII are ord(c) - 0x21 (bytes_to_unicode lists '!'..'~' first),
 * "</w>" variants 256 + that; merges are 512..515, sot 516, eot 517.
 * "hello": h e l l o</w> -> (h,e) rank 0 -> he l l o</w> -> (l,l) 1 -> he ll o</w>
 *          -> (he,ll) 2 -> hell o</w> -> (hell,o</w>) 3 -> hello</w> = 515.
 * "help":  h e l p</w> -> he l p</w>, no ranked pair left -> 512, 'l' 75, 'p</w>' 256+79. */

Test(bpe, hand_checked_merges) {
    vlm_test_write_text(tpath("v.txt"), "#version: test\nh e\nl l\nhe ll\nhell o</w>\n");
    vlm_error err = {0};
    vlm_bpe *b = NULL;
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "v.txt"), &b, &err), VLM_OK, "%s", err.msg);
    cr_assert_eq(vlm_bpe_vocab_size(b), 518);
    cr_assert_eq(vlm_bpe_sot(b), 516);
    cr_assert_eq(vlm_bpe_eot(b), 517);
    int32_t *ids;
    int n;
    cr_assert_eq(vlm_bpe_encode(b, "Hello  HELP", &ids, &n, &err), VLM_OK, "%s", err.msg);
    int32_t want[] = {515, 512, 75, 335};
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ids[i], want[i], "id %d: %d, want %d", i, ids[i], want[i]);
    free(ids);
    /* "a!" -> 'a' 64 then '!</w>' 256 (punctuation is its own pre-token) */
    cr_assert_eq(vlm_bpe_encode(b, "a!", &ids, &n, &err), VLM_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], 256 + 64);
    cr_assert_eq(ids[1], 256);
    free(ids);
    /* context 4: sot, the first 2 ids, eot (open_clip truncation) */
    int32_t tok[6];
    cr_assert_eq(vlm_bpe_tokenize(b, "hello help", 4, tok, &err), VLM_OK);
    int32_t wt[] = {516, 515, 512, 517};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tok[i], wt[i], "token %d: %d, want %d", i, tok[i], wt[i]);
    /* exactly fitting: no truncation; then zero padding */
    cr_assert_eq(vlm_bpe_tokenize(b, "hello", 3, tok, &err), VLM_OK);
    cr_assert(tok[0] == 516 && tok[1] == 515 && tok[2] == 517);
    cr_assert_eq(vlm_bpe_tokenize(b, "hello", 6, tok, &err), VLM_OK);
    cr_assert(tok[0] == 516 && tok[1] == 515 && tok[2] == 517 && tok[3] == 0 && tok[5] == 0);
    cr_assert_eq(vlm_bpe_tokenize(b, "", 6, tok, &err), VLM_OK);
    cr_assert(tok[0] == 516 && tok[1] == 517 && tok[2] == 0);
    cr_assert_eq(vlm_bpe_tokenize(b, "x", 1, tok, &err), VLM_ERR_INVALID);
    vlm_bpe_destroy(b);
}

Test(bpe, bad_inputs) {
    vlm_error err = {0};
    vlm_bpe *b = NULL;
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "missing.txt.gz"), &b, &err), VLM_ERR_IO);
    cr_assert(strstr(err.msg, "missing.txt.gz"), "%s", err.msg);
    cr_assert_null(b);
    vlm_test_write_text(tpath("three.txt"), "#v\nh e\na b c\n");
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "three.txt"), &b, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "line 3"), "%s", err.msg);
    vlm_test_write_text(tpath("latin1.txt"), "#v\nh \xe9\n");
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "latin1.txt"), &b, &err), VLM_ERR_FORMAT);
    cr_assert(strstr(err.msg, "UTF-8"), "%s", err.msg);
    /* a truncated gzip stream */
    python("import gzip, sys\n"
           "d = sys.argv[1]\n"
           "z = gzip.compress(('#v\\n' + 'h e\\n' * 5000).encode())\n"
           "open(d + '/cut.gz', 'wb').write(z[:len(z) // 2])\n");
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "cut.gz"), &b, &err), VLM_ERR_FORMAT, "%s",
                 err.msg);
    cr_assert_null(b);
    vlm_test_write_text(tpath("ok.txt"), "#v\nh e\n");
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "ok.txt"), &b, &err), VLM_OK);
    int32_t *ids;
    int n;
    cr_assert_eq(vlm_bpe_encode(b, "ab\xff", &ids, &n, &err), VLM_ERR_INVALID);
    cr_assert(strstr(err.msg, "UTF-8"), "%s", err.msg);
    vlm_bpe_destroy(b);
    vlm_bpe_destroy(NULL);
}

/* The independent reference: trains ~300 merges on a small multilingual corpus (byte-level,
 * over the bytes_to_unicode symbols, most frequent pair first), writes them gzip'd with a
 * header line, and tokenizes the cases with a transcription of simple_tokenizer. */
static const char *REFERENCE =
    "import gzip, html, json, sys\n"
    "import unicodedata as ud\n"
    "d = sys.argv[1]\n"
    "def b2u():\n"
    "    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))\n"
    "    cs = bs[:]\n"
    "    n = 0\n"
    "    for b in range(256):\n"
    "        if b not in bs:\n"
    "            bs.append(b); cs.append(256 + n); n += 1\n"
    "    return dict(zip(bs, [chr(c) for c in cs]))\n"
    "BE = b2u()\n"
    "# the pre-tokenising regex as a scanner (leftmost alternative wins; /usr/bin/python3\n"
    "# has no `regex` module for \\p{L}): specials, contractions, letter runs, one digit,\n"
    "# runs of anything else that is not whitespace\n"
    "SPECIAL = ['<|startoftext|>', '<|endoftext|>']\n"
    "CONTR = [\"'s\", \"'t\", \"'re\", \"'ve\", \"'m\", \"'ll\", \"'d\"]\n"
    "def cat(c):\n"
    "    k = ud.category(c)[0]\n"
    "    return 'L' if k == 'L' else 'N' if k == 'N' else 'S' if c.isspace() else 'P'\n"
    "def findall(t):\n"
    "    out, i = [], 0\n"
    "    while i < len(t):\n"
    "        m = next((x for x in SPECIAL + CONTR if t[i:i + len(x)].lower() == x), None)\n"
    "        if m:\n"
    "            out.append(t[i:i + len(m)]); i += len(m); continue\n"
    "        k = cat(t[i])\n"
    "        if k == 'S':\n"
    "            i += 1; continue\n"
    "        j = i + 1\n"
    "        if k != 'N':\n"
    "            while j < len(t) and cat(t[j]) == k:\n"
    "                j += 1\n"
    "        out.append(t[i:j]); i = j\n"
    "    return out\n"
    "def clean(t):\n"
    "    t = html.unescape(html.unescape(t)).strip()\n"
    "    return ' '.join(t.split()).lower()\n"
    "corpus = ('the quick brown fox jumps over the lazy dog. a photo of a cat, a photo of '\n"
    "          'the dog! there is the other one; they\\'re here and it\\'s theirs. café '\n"
    "          'naïve résumé über straße ελληνικά οδός '\n"
    "          '日本語のテキスト 🙂🙂 1234567890 '\n"
    "          'hello hello hello world worlds wordy words photography photographs') * 3\n"
    "words = [''.join(BE[b] for b in w.encode()) for w in findall(clean(corpus))]\n"
    "seqs = [list(w[:-1]) + [w[-1] + '</w>'] for w in words]\n"
    "merges = []\n"
    "for _ in range(300):\n"
    "    counts = {}\n"
    "    for s in seqs:\n"
    "        for p in zip(s, s[1:]):\n"
    "            counts[p] = counts.get(p, 0) + 1\n"
    "    if not counts:\n"
    "        break\n"
    "    best = max(sorted(counts), key=lambda p: counts[p])\n"
    "    merges.append(best)\n"
    "    for s in seqs:\n"
    "        i = 0\n"
    "        while i < len(s) - 1:\n"
    "            if (s[i], s[i + 1]) == best:\n"
    "                s[i:i + 2] = [s[i] + s[i + 1]]\n"
    "            i += 1\n"
    "# a merge listed twice keeps its last rank; its string its last id\n"
    "merges.append(merges[5])\n"
    "text = '#version: test\\n' + '\\n'.join(a + ' ' + b for a, b in merges) + '\\n'\n"
    "open(d + '/vocab.txt.gz', 'wb').write(gzip.compress(text.encode('utf-8')))\n"
    "vocab = list(BE.values())\n"
    "vocab += [v + '</w>' for v in vocab] + [a + b for a, b in merges]\n"
    "vocab += ['<|startoftext|>', '<|endoftext|>']\n"
    "enc = {v: i for i, v in enumerate(vocab)}\n"
    "ranks = {m: i for i, m in enumerate(merges)}\n"
    "def bpe(tok):\n"
    "    if tok in ('<|startoftext|>', '<|endoftext|>'):\n"
    "        return [tok]\n"
    "    w = list(tok[:-1]) + [tok[-1] + '</w>']\n"
    "    while len(w) > 1:\n"
    "        pairs = [p for p in zip(w, w[1:]) if p in ranks]\n"
    "        if not pairs:\n"
    "            break\n"
    "        a, b = min(pairs, key=lambda p: ranks[p])\n"
    "        out, i = [], 0\n"
    "        while i < len(w):\n"
    "            if i < len(w) - 1 and w[i] == a and w[i + 1] == b:\n"
    "                out.append(a + b); i += 2\n"
    "            else:\n"
    "                out.append(w[i]); i += 1\n"
    "        w = out\n"
    "    return w\n"
    "def encode(t):\n"
    "    ids = []\n"
    "    for tok in findall(clean(t)):\n"
    "        ids += [enc[s] for s in bpe(''.join(BE[b] for b in tok.encode()))]\n"
    "    return ids\n"
    "def tokenize(t, n=77):\n"
    "    toks = [enc['<|startoftext|>']] + encode(t) + [enc['<|endoftext|>']]\n"
    "    if len(toks) > n:\n"
    "        toks = toks[:n]; toks[-1] = enc['<|endoftext|>']\n"
    "    return toks + [0] * (n - len(toks))\n"
    "cases = ['a photo of a cat.', 'The   Quick\\tbrown FOX\\'S tail', 'it\\'S', \n"
    "  \"don't we'll they're I've I'm he'd\", 'THE quick 123 foxes!!! ...?',\n"
    "  'Café naïve Ελληνικά ΟΔΟΣ όΣ Σ', 'İstanbul',\n"
    "  '日本語のテキスト', 'emoji 🙂🙂 ok',\n"
    "  '&amp; &lt;b&gt; &#39;quoted&#39; &#x263A; &amp;amp; &ampere &#150; &#0; &#1; &apos;',\n"
    "  '<|startoftext|>hello<|endoftext|>', '', '   ', '\\u00a0nbsp\\u2003em\\u3000',\n"
    "  'a\\x1cb\\x85c\\u200bd', 'photography photographs wordy worlds hello',\n"
    "  'word ' * 100, 'supercalifragilisticexpialidocious unseen ŽŸ™ ∑∂ 𝔘𝔫𝔦']\n"
    "json.dump([{'text': t, 'ids': encode(t), 'tok': tokenize(t)} for t in cases],\n"
    "          open(d + '/cases.json', 'w'))\n"
    "json.dump({'vocab_size': len(vocab)}, open(d + '/meta.json', 'w'))\n";

Test(bpe, matches_reference_python) {
    python(REFERENCE);
    vlm_error err = {0};
    vlm_bpe *b = NULL;
    cr_assert_eq(vlm_bpe_load(vlm_test_path(g_dir, "vocab.txt.gz"), &b, &err), VLM_OK, "%s",
                 err.msg);
    json_error_t je;
    json_t *meta = json_load_file(vlm_test_path(g_dir, "meta.json"), 0, &je);
    cr_assert_not_null(meta);
    cr_assert_eq(vlm_bpe_vocab_size(b), json_integer_value(json_object_get(meta, "vocab_size")));
    json_decref(meta);
    json_t *cases = json_load_file(vlm_test_path(g_dir, "cases.json"), 0, &je);
    cr_assert_not_null(cases, "%s", je.text);
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *want = json_object_get(c, "ids"), *wtok = json_object_get(c, "tok");
        int32_t *ids;
        int n;
        cr_assert_eq(vlm_bpe_encode(b, text, &ids, &n, &err), VLM_OK, "case %zu: %s", i, err.msg);
        cr_assert_eq((size_t)n, json_array_size(want), "case %zu '%s': %d ids, want %zu", i, text,
                     n, json_array_size(want));
        for (int k = 0; k < n; k++)
            cr_assert_eq(ids[k], json_integer_value(json_array_get(want, (size_t)k)),
                         "case %zu '%s': id %d is %d, want %lld", i, text, k, ids[k],
                         (long long)json_integer_value(json_array_get(want, (size_t)k)));
        free(ids);
        int32_t tok[77];
        cr_assert_eq(vlm_bpe_tokenize(b, text, 77, tok, &err), VLM_OK);
        for (int k = 0; k < 77; k++)
            cr_assert_eq(tok[k], json_integer_value(json_array_get(wtok, (size_t)k)),
                         "case %zu '%s': token %d is %d, want %lld", i, text, k, tok[k],
                         (long long)json_integer_value(json_array_get(wtok, (size_t)k)));
        checked++;
    }
    cr_assert_geq(checked, 15);
    json_decref(cases);
    vlm_bpe_destroy(b);
}
