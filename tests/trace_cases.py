"""Literal traces with the trace check's verdict (trace_ok, step count, wrong steps as written):
test_traces checks the rules on them, test_rewards the trace reward."""

CASES = [
    # operators
    ("3 + 4 = 7", "7", (True, 1, [])),
    ("10 - 4 = 6", "6", (True, 1, [])),
    ("10 − 4 = 6", "6", (True, 1, [])),                                # the minus sign
    ("6 × 7 = 42", "42", (True, 1, [])),
    ("6 x 7 = 42", "42", (True, 1, [])),
    ("6 * 7 = 42", "42", (True, 1, [])),
    ("84 ÷ 2 = 42", "42", (True, 1, [])),
    ("84 / 2 = 42", "42", (True, 1, [])),
    ("2^10 = 1024", "1024", (True, 1, [])),
    ("(3 + 4) × 2 = 14", "14", (True, 1, [])),
    ("3 + 4 × 2 = 11", "11", (True, 1, [])),                            # precedence
    ("3 + 4 × 2 = 14", "14", (False, 1, ["3 + 4 × 2 = 14"])),
    ("-5 + 3 = -2", "-2", (True, 1, [])),
    ("2^-1 = 0.5", "0.5", (True, 1, [])),
    ("sqrt(576) = 24", "24", (True, 1, [])),                            # a root of a perfect square
    ("√(30^2 - 18^2) = 24", "24", (True, 1, [])),
    ("√(9/4) = 1.5", "1.5", (True, 1, [])),
    ("sqrt(16) = 5", "5", (False, 1, ["sqrt(16) = 5"])),
    ("sqrt(2) = 1.41", "1.41", (None, 0, [])),                          # no exact value: not checkable
    ("√-4 = 2", "2", (None, 0, [])),
    # percentages
    ("15% of 400 = 60", "60", (True, 1, [])),
    ("15% × 400 = 60", "60", (True, 1, [])),
    ("15% of 400 = 400 × 15 / 100 = 60", "60", (True, 2, [])),          # a chain: a step per expression
    ("15% of 400 = 400 × 15 / 100 = 65", "65", (False, 2, ["15% of 400 = 65", "400 × 15 / 100 = 65"])),
    ("50 / 200 = 25%", "25%", (True, 1, [])),                           # a per-cent result, as a fraction
    ("50 / 200 × 100 = 25%", "25%", (True, 1, [])),                     # ... or as the number written
    ("50 / 200 = 30%", "30%", (False, 1, ["50 / 200 = 30%"])),
    # money and thousands commas
    ("12 × $1.50 = $18", "$18", (True, 1, [])),
    ("0.2 x 50 = $10.", "10", (True, 1, [])),
    ("1,000 - 200 = 800", "800", (True, 1, [])),
    ("1,250 + 1,250 = 2,500", "2,500", (True, 1, [])),
    ("$1,250 × 2 = $2,400", "$2,400", (False, 1, ["$1,250 × 2 = $2,400"])),
    # fractions
    ("3 / 6 = 1/2", "1/2", (True, 1, [])),
    ("1/2 + 1/4 = 3/4", "3/4", (True, 1, [])),
    ("1/2 + 1/4 = 2/3", "2/3", (False, 1, ["1/2 + 1/4 = 2/3"])),
    # rounding: d decimals written = EXPR rounded to d; an integer must be exact
    ("10 / 3 = 3.33", "3.33", (True, 1, [])),
    ("10 / 3 = 3.3", "3.3", (True, 1, [])),
    ("10 / 3 = 3.34", "3.34", (False, 1, ["10 / 3 = 3.34"])),
    ("10 / 3 = 3", "3", (False, 1, ["10 / 3 = 3"])),
    ("7 / 2 = 3.5", "3.5", (True, 1, [])),
    ("2 / 3 = 0.667", "0.667", (True, 1, [])),
    # units after the result
    ("48 / 2 = 24 clips", "24", (True, 1, [])),
    ("12 × 3 = 36 cm", "36 cm", (True, 1, [])),
    ("60 × 2.5 = 150 km", "150", (True, 1, [])),
    # several steps; the answer against the last result
    ("39 + 56: 30 + 50 = 80, 9 + 6 = 15, 80 + 15 = 95", "95", (True, 3, [])),
    ("30 + 50 = 80, 9 + 6 = 15, 80 + 15 = 95", "96", (False, 3, [])),   # every step right, the answer not
    ("3 + 4 = 7.\nThen 7 × 2 = 14.", "14", (True, 2, [])),
    ("3 + 4 = 8.\nThen 8 × 2 = 16.", "16", (False, 2, ["3 + 4 = 8"])),
    ("Subtract 26 from both sides: 39 + 56 = 83.", "83", (False, 1, ["39 + 56 = 83"])),
    ("5 / 0 = 0", "0", (False, 1, ["5 / 0 = 0"])),                        # no number: a false claim
    ("3 + 4 = 7", None, (False, 1, [])),                                  # no answer differs from 7
    # a text answer: the steps are checked, the last-result rule is not
    ("31 - 10 = 21 days after Monday, and 21 / 7 = 3 weeks, so Monday", "Monday", (True, 2, [])),
    ("2 + 2 = 5 steps north, so north", "north", (False, 1, ["2 + 2 = 5"])),
    # no checkable step: not checked (None), never counted against the trace
    ("She had some apples and ate half.", "3", (None, 0, [])),
    ("2x + 3 = 11, so x = 4", "4", (None, 0, [])),                        # algebra with a variable
    ("x = 12", "12", (None, 0, [])),
    ("5 km + 3 km = 8 km", "8", (None, 0, [])),                           # units inside the expression
    ("The total = 7", "7", (None, 0, [])),
    ("so -4 = -4", "-4", (None, 0, [])),                                 # a signed number computes nothing
    ("Step 1 3 + 4 = 7", "7", (True, 1, [])),                             # a number before the expression
]
