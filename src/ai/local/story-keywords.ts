/**
 * A small, deterministic keyword scorer for the extractive story writer: which words and
 * two-word phrases recur across memories. It counts memories (documents), not occurrences, so
 * one long letter that says "garden" forty times is not a theme; three memories that each
 * mention it are.
 */

/** One memory's texts (transcript, text, caption, each tag), kept apart so phrases never span two. */
export type KeywordDoc = readonly string[];

export interface KeywordHit {
  /** Lower case, one or two words ("choir", "apple tree"). */
  keyword: string;
  /** Indices of the docs that contain it, ascending. */
  docs: number[];
}

export interface KeywordOptions {
  max: number;
  /** A keyword must appear in at least this many docs. */
  minDocs: number;
  /** Lower-case words never to use (the person's own name is everywhere and is no theme). */
  exclude?: ReadonlySet<string>;
}

// Function words, speech fillers from transcripts and words every caption or memory uses.
const STOPWORDS: ReadonlySet<string> = new Set(
  `a about above after again against all also always am an and any are around as at back be because been before
  being below between both but by can could did didn do does doing don down during each even ever every few for
  from further get gets getting got had has have having he her here hers herself him himself his how i if in into
  is it its itself just know like little lot lots made make many may me more most much must my myself never new
  no nor not now of off often on once one only or other our ours ourselves out over own really remember remembered
  said same say says see she should since so some something still such than that the their theirs them themselves
  then there these they thing things think this those though through thought time times to too took under until
  up upon us used very was way we well went were what when where which while who whom why will with would yeah yes
  yet you your yours yourself um uh oh okay ok mean gonna came come comes going go goes told tell
  photo photograph picture image scan document recording video audio memo woman man person people standing sitting
  holding wearing looking front black white old young day days year years
  grandma grandpa granny grandad grandmother grandfather nana nan mum mom mummy mommy dad daddy
  dear dearest thank thanks love loving yours sincerely regards wish wishes hope hoped write wrote written writing
  letter letters found find full fully last first next today tomorrow yesterday week weeks month months good great
  lovely nice best better let put keep kept want wanted give gave given take taken felt feel always again soon
  someone everyone anyone nothing anything everything knew known knows wanted asked ask`.split(/\s+/),
);

const TOKEN = /[\p{L}\p{N}]+(?:['’]\p{L}+)*/gu;
// Clause punctuation ends a phrase: "the sea, choir" is not the phrase "sea choir".
const CLAUSE = /[.,;:!?()[\]{}"“”«»…\n\r\t/\\|]+|\s[-–—]\s/u;

/** Splits one text into clauses of raw lower-case tokens (stopwords included, so they break phrases). */
function clauses(text: string): string[][] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .split(CLAUSE)
    .map((clause) => (clause.match(TOKEN) ?? []).map((token) => token.replace(/['’]s$/u, '')));
}

function isCandidate(token: string, exclude: ReadonlySet<string> | undefined): boolean {
  return token.length >= 3 && /^\p{L}+$/u.test(token) && !STOPWORDS.has(token) && !(exclude?.has(token) ?? false);
}

interface Count {
  keyword: string;
  words: string[];
  docs: Set<number>;
  occurrences: number;
}

/** The `max` best keywords, best first; ties break alphabetically so the result never varies. */
export function topKeywords(docs: readonly KeywordDoc[], options: KeywordOptions): KeywordHit[] {
  const tokenised: string[][][] = docs.map((doc) => doc.flatMap(clauses));
  // "trees" counts as "tree" only when "tree" also occurs: safe plural folding without a stemmer.
  const vocabulary = new Set<string>(tokenised.flat(2));
  const canon = (token: string): string =>
    token.length > 3 && token.endsWith('s') && !token.endsWith('ss') && vocabulary.has(token.slice(0, -1))
      ? token.slice(0, -1)
      : token;

  const counts = new Map<string, Count>();
  const add = (words: string[], doc: number): void => {
    const keyword = words.join(' ');
    let count = counts.get(keyword);
    if (!count) {
      count = { keyword, words, docs: new Set(), occurrences: 0 };
      counts.set(keyword, count);
    }
    count.docs.add(doc);
    count.occurrences += 1;
  };

  tokenised.forEach((doc, index) => {
    for (const clause of doc) {
      const words = clause.map((token) => (isCandidate(token, options.exclude) ? canon(token) : null));
      words.forEach((word, i) => {
        if (word === null) return;
        add([word], index);
        const next = words[i + 1];
        if (next != null && next !== word) add([word, next], index);
      });
    }
  });

  // A phrase is worth a little more than a single word found in as many memories.
  const score = (count: Count): number => count.docs.size + (count.words.length > 1 ? 0.5 : 0);
  const ranked = [...counts.values()]
    .filter((count) => count.docs.size >= options.minDocs)
    .sort(
      (a, b) =>
        score(b) - score(a) || b.occurrences - a.occurrences || (a.keyword < b.keyword ? -1 : a.keyword > b.keyword ? 1 : 0),
    );

  // Skip anything sharing a word with a better keyword: "apple tree" makes "apple" and "tree" redundant.
  const used = new Set<string>();
  const hits: KeywordHit[] = [];
  for (const count of ranked) {
    if (hits.length >= options.max) break;
    if (count.words.some((word) => used.has(word))) continue;
    count.words.forEach((word) => used.add(word));
    hits.push({ keyword: count.keyword, docs: [...count.docs].sort((a, b) => a - b) });
  }
  return hits;
}
