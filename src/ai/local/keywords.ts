/**
 * Keywords from transcripts, captions and letters, without a model: the words and two-word
 * phrases a family keeps coming back to. Deterministic: the same texts give the same list.
 */

export interface Keyword {
  keyword: string;
  score: number;
}

/** English function words, plus what people say while thinking out loud. */
const STOPWORDS = new Set(
  `a about above after again against all almost also although always am among an and another any anyone anything
  are aren't around as at away back be because been before being below between both but by can can't cannot could
  couldn't did didn't do does doesn't doing don't done down during each either else even ever every everyone
  everything few for from further get gets getting go goes gone good got gotten had hadn't has hasn't have haven't
  having he he'd he'll he's her here here's hers herself him himself his how how's however i i'd i'll i'm i've if in
  into is isn't it it's its itself just let let's lot lots made make makes many may maybe me might mine more most
  much must mustn't my myself never no nor not nothing now of off often oh ok okay on once one ones only or other
  others ought our ours ourselves out over own perhaps quite rather really right said same say says see seem seemed
  shall shan't she she'd she'll she's should shouldn't since so some someone something sometimes still such sure
  than that that's the their theirs them themselves then there there's these they they'd they'll they're they've
  thing things this those though through thus to too took toward towards under until up upon us very was wasn't way
  we we'd we'll we're we've well went were weren't what what's whatever when when's where where's whether which
  while who who's whom whose why why's will with within without won't would wouldn't yes yet you you'd you'll
  you're you've your yours yourself yourselves
  um umm uh uhh uh-huh hmm mm mhm er erm ah ahh eh yeah yep yup nope like just really going gonna wanna gotta know
  knew got kind sort stuff mean guess actually basically literally anyway anyways okay alright right sorta kinda
  huh cause whatnot tell told think thought remember`
    .split(/\s+/)
    .filter(Boolean),
);

const MIN_LENGTH = 3;
const MIN_PHRASE_COUNT = 2;
/** A phrase names one thing more precisely than either of its words does. */
const PHRASE_WEIGHT = 1.5;

/**
 * Up to `max` keywords, best first. A word's score is how often it occurs, plus one for every
 * further text it occurs in (said in three memories outweighs said three times in one). Two-word
 * phrases said at least twice are kept whole (scored 1.5× per occurrence), and those occurrences
 * no longer count for their words: "apple tree" said three times does not also make "tree".
 */
export function extractKeywords(texts: string[], max = 10): Keyword[] {
  const sentences = texts.map((text) => sentencesOf(text));
  const vocabulary = new Set(sentences.flat(2));
  const fold = pluralFolder(vocabulary);

  const words = new Map<string, Tally>();
  const phrases = new Map<string, Tally>();
  sentences.forEach((textSentences, textIndex) => {
    for (const tokens of textSentences) {
      let previous: string | null = null;
      for (const token of tokens) {
        const word = STOPWORDS.has(token) || token.length < MIN_LENGTH ? null : fold(token);
        if (word) count(words, word, textIndex);
        // Only words that stand next to each other make a phrase; a stopword or filler breaks it.
        if (word && previous && previous !== word) count(phrases, `${previous} ${word}`, textIndex);
        previous = word;
      }
    }
  });

  const scored: Keyword[] = [];
  for (const [phrase, tally] of phrases) {
    if (total(tally) < MIN_PHRASE_COUNT) continue;
    scored.push({ keyword: phrase, score: PHRASE_WEIGHT * total(tally) + (tally.size - 1) });
    for (const word of phrase.split(' ')) {
      const w = words.get(word);
      if (!w) continue;
      for (const [textIndex, n] of tally) {
        const left = (w.get(textIndex) ?? 0) - n;
        if (left > 0) w.set(textIndex, left);
        else w.delete(textIndex);
      }
    }
  }
  for (const [word, tally] of words) {
    if (tally.size > 0) scored.push({ keyword: word, score: total(tally) + (tally.size - 1) });
  }
  return scored
    .sort((a, b) => b.score - a.score || (a.keyword < b.keyword ? -1 : a.keyword > b.keyword ? 1 : 0))
    .slice(0, Math.max(0, max))
    .map(({ keyword, score }) => ({ keyword, score: Math.round(score * 100) / 100 }));
}

/** Occurrences per text (by index). */
type Tally = Map<number, number>;

function count(map: Map<string, Tally>, key: string, textIndex: number): void {
  const tally = map.get(key) ?? new Map<number, number>();
  tally.set(textIndex, (tally.get(textIndex) ?? 0) + 1);
  map.set(key, tally);
}

const total = (tally: Tally): number => [...tally.values()].reduce((sum, n) => sum + n, 0);

/**
 * Lower-cased tokens per sentence. A token is letters (any script, with their accents) joined by
 * apostrophes; anything with a digit is dropped, and a possessive "'s" is cut ("Rose's" → "rose").
 */
function sentencesOf(text: string): string[][] {
  return text
    .normalize('NFC')
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .toLowerCase()
    .split(/[.!?;:\n\u2026]+|\s[-\u2013\u2014]+\s/)
    .map((sentence) =>
      (sentence.match(/[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*/gu) ?? [])
        .filter((token) => !/\p{N}/u.test(token))
        .map((token) => token.replace(/'s$/, '')),
    )
    .filter((tokens) => tokens.length > 0);
}

/** "trees" → "tree", "stories" → "story", "boxes" → "box", but only if the singular is also said. */
function pluralFolder(vocabulary: ReadonlySet<string>): (word: string) => string {
  return (word) => {
    if (word.length <= MIN_LENGTH || !word.endsWith('s') || word.endsWith('ss')) return word;
    const candidates = [word.endsWith('ies') ? `${word.slice(0, -3)}y` : null, word.endsWith('es') ? word.slice(0, -2) : null, word.slice(0, -1)];
    return candidates.find((c): c is string => c !== null && c.length >= MIN_LENGTH && vocabulary.has(c) && !STOPWORDS.has(c)) ?? word;
  };
}
