// The attention lessons, each in its own file, for callers that want all of them (the
// command line, the lesson window, the tests).
#pragma once
#include "lessons/causal_mask.h"
#include "lessons/heads.h"
#include "lessons/lesson.h"
#include "lessons/positional_encoding.h"
#include "lessons/quadratic_cost.h"
#include "lessons/temperature.h"
#include "lessons/why_sqrt_d.h"
#include "lessons/worked_example.h"
