from tunix_nb.contamination import NGRAM, Overlap, find_overlaps, normalise

EVAL = [("e1", "A farmer has 12 cows and buys 5 more. How many cows does the farmer have now?"),
        ("e2", "Short one?")]


def test_normalise_drops_case_accents_punctuation_and_spacing():
    assert normalise("  Café,  CAFÉ!\n2+2 = 4 ") == "cafe cafe 2 2 4"


def test_the_same_question_rewritten_in_case_and_punctuation_is_caught():
    assert find_overlaps([("t1", "a FARMER has 12 cows, and buys 5 more -- how many cows does the farmer have now")],
                         EVAL) == [Overlap("t1", "e1", "same text")]


def test_a_shared_run_of_13_words_is_caught_and_12_are_not():
    words = normalise(EVAL[0][1]).split()  # 17 words
    assert len(words) > NGRAM
    near = "Yesterday " + " ".join(words[2:2 + NGRAM]) + " tell me quickly"
    (o,) = find_overlaps([("t2", near)], EVAL)
    assert (o.train_id, o.eval_id) == ("t2", "e1") and o.how == f"13-gram '{' '.join(words[2:15])}'"
    assert find_overlaps([("t3", "Yesterday " + " ".join(words[2:2 + NGRAM - 1]) + " tell me")], EVAL) == []


def test_short_texts_match_only_whole_and_different_questions_pass():
    assert find_overlaps([("t4", "short one"), ("t5", "Short one more?"), ("t6", "What is 2 + 3?")], EVAL) == [
        Overlap("t4", "e2", "same text")]
