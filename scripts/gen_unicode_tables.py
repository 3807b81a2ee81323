#!/usr/bin/env python3
"""Generates model/unicode_tables.cpp: the Unicode facts the tokenizer pre-splitters need.

  python3 scripts/gen_unicode_tables.py [--ucd /usr/share/unicode] > model/unicode_tables.cpp

The tables must describe Unicode 15.1, the version of llama.cpp's own tables (checked against them:
every code point gets the same major category). Python's unicodedata is the base; code points it
does not know yet are taken from a newer Unicode Character Database (Debian package unicode-data,
15.0 on bookworm) and then from the short list of Unicode 15.1 additions below.

Tables:
  * general-category ranges, reduced to the major class (L, M, N, P, S, Z, C) that the
    pre-tokenizer regexes test with \\p{..}; unassigned code points are C (as \\p{C} is);
  * the White_Space property (what \\s means in the tokenizer regexes): str.isspace() minus the
    information separators U+001C..U+001F, which Python counts as space but Unicode does not;
  * the letter ranges that the deepseek-llm pre-tokenizer spells out literally in its regex.
"""
import argparse
import os
import re
import sys
import unicodedata

MAX_CP = 0x110000
MAJOR = {"L": 0, "M": 1, "N": 2, "P": 3, "S": 4, "Z": 5, "C": 6}
MAJOR_NAMES = ["kLetter", "kMark", "kNumber", "kPunctuation", "kSymbol", "kSeparator", "kOther"]

# The literal letter class of deepseek-llm's second pre-tokenizer regex (from its tokenizer.json),
# with every non-ASCII character escaped: several of them (U+1F7D, U+1FBE, U+2126, U+212A, ...) have
# canonical equivalents that an editor's Unicode normalization would silently substitute.
DEEPSEEK_LLM_LETTERS = (
    "A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-"
    "\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-"
    "\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5"
    "\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-"
    "\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-"
    "\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-"
    "\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-"
    "\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149"
    "\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D"
    "\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-"
    "\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-"
    "\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-"
    "\U0001E943"
)


# Characters new in Unicode 15.1 (its whole repertoire change: 627 code points).
UNICODE_15_1_ADDITIONS = [
    (0x2EBF0, 0x2EE5D, "Lo"),  # CJK Unified Ideographs Extension I
    (0x2FFC, 0x2FFF, "So"),    # ideographic description characters
    (0x31EF, 0x31EF, "So"),    # CJK STROKE HXG
]
TARGET_VERSION = "15.1.0"


def load_ucd(ucd_dir):
    """Categories of all assigned code points in UnicodeData.txt (First/Last ranges expanded)."""
    cats, first = {}, None
    with open(os.path.join(ucd_dir, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.split(";")
            cp, name, cat = int(fields[0], 16), fields[1], fields[2]
            if name.endswith(", First>"):
                first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(first, cp + 1):
                    cats[c] = cat
                continue
            cats[cp] = cat
    version = "?"
    with open(os.path.join(ucd_dir, "DerivedAge.txt"), encoding="utf-8") as f:
        m = re.search(r"DerivedAge-([0-9.]+)\.txt", f.readline())
        if m:
            version = m.group(1)
    return cats, version


def version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def bracket_ranges(body):
    """Parses the inside of a regex bracket expression made of literal chars and a-b ranges."""
    cps = [ord(c) for c in body]
    out, i = [], 0
    while i < len(cps):
        if i + 2 < len(cps) and cps[i + 1] == ord("-"):
            assert cps[i] <= cps[i + 2], body[i : i + 3]
            out.append((cps[i], cps[i + 2]))
            i += 3
        else:
            out.append((cps[i], cps[i]))
            i += 1
    out.sort()
    merged = []
    for a, b in out:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ucd", default="/usr/share/unicode",
                    help="Unicode Character Database directory (Debian: apt-get install unicode-data)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.ucd, "UnicodeData.txt")):
        sys.exit("gen_unicode_tables.py: %s/UnicodeData.txt not found (apt-get install unicode-data)" % args.ucd)
    ucd, ucd_version = load_ucd(args.ucd)
    if version_tuple(ucd_version) < version_tuple(unicodedata.unidata_version):
        ucd, ucd_version = {}, "unused"

    def category(cp):
        c = unicodedata.category(chr(cp))
        if c == "Cn":
            c = ucd.get(cp, "Cn")
        if c == "Cn":
            for a, b, added in UNICODE_15_1_ADDITIONS:
                if a <= cp <= b:
                    c = added
        return c

    w = sys.stdout.write
    cat = [MAJOR[category(cp)[0]] for cp in range(MAX_CP)]
    ranges = [(0, cat[0])]
    for cp in range(1, MAX_CP):
        if cat[cp] != ranges[-1][1]:
            ranges.append((cp, cat[cp]))

    white = [cp for cp in range(MAX_CP) if chr(cp).isspace() and not 0x1C <= cp <= 0x1F]
    expected = list(range(0x09, 0x0E)) + [0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + \
        [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
    assert white == expected, white

    letters = bracket_ranges(DEEPSEEK_LLM_LETTERS)
    # Spot checks of characters that look alike elsewhere: OHM SIGN and KELVIN SIGN, not Greek/Latin.
    assert (0x2126, 0x2126) in letters and any(a == 0x212A for a, _ in letters), letters

    w("// Generated by scripts/gen_unicode_tables.py: Unicode %s (Python unicodedata %s, UCD %s, 15.1 additions).\n"
      % (TARGET_VERSION, unicodedata.unidata_version, ucd_version))
    w("// Do not edit by hand: change the generator and re-run it.\n")
    w('#include "model/unicode_tables.h"\n\nnamespace kestrel::unicode::tables {\n\n')
    w('const char* const kUnicodeVersion = "%s";\n\n' % TARGET_VERSION)
    w("// Each entry starts a run of code points sharing a major general category; a run ends where\n")
    w("// the next one starts (the last runs to U+10FFFF).\n")
    w("const CategoryRun kCategoryRuns[] = {\n")
    for i in range(0, len(ranges), 4):
        w("    " + " ".join("{0x%06X, %s}," % (cp, MAJOR_NAMES[c]) for cp, c in ranges[i:i + 4]) + "\n")
    w("};\n")
    w("const size_t kCategoryRunCount = sizeof(kCategoryRuns) / sizeof(kCategoryRuns[0]);\n\n")
    w("// White_Space property, ascending.\n")
    w("const uint32_t kWhiteSpace[] = {\n    " + ", ".join("0x%04X" % cp for cp in white) + ",\n};\n")
    w("const size_t kWhiteSpaceCount = sizeof(kWhiteSpace) / sizeof(kWhiteSpace[0]);\n\n")
    w("// deepseek-llm's literal letter class, as inclusive ranges, ascending and disjoint.\n")
    w("const CodepointRange kDeepseekLlmLetters[] = {\n")
    for i in range(0, len(letters), 4):
        w("    " + " ".join("{0x%05X, 0x%05X}," % r for r in letters[i:i + 4]) + "\n")
    w("};\n")
    w("const size_t kDeepseekLlmLetterCount = sizeof(kDeepseekLlmLetters) / sizeof(kDeepseekLlmLetters[0]);\n\n")
    w("}  // namespace kestrel::unicode::tables\n")


if __name__ == "__main__":
    main()
