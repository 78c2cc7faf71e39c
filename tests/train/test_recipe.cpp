#include <catch2/catch.hpp>

#include "train/recipe.h"

using namespace resnetc::train;

TEST_CASE("the default recipe is the book's") {
  Recipe r;
  CHECK(r.epochs == 10);
  CHECK(r.batch == 256);
  CHECK(r.lr == 0.05);
  CHECK(r.momentum == 0);
  CHECK(r.schedule == Schedule::Constant);
}

TEST_CASE("the file's train section overrides the defaults, and only what it sets") {
  resnetc::dsl::TrainingSettings s;
  s.epochs = 3;
  s.schedule = "cosine";
  Recipe r = recipe_from(s);
  CHECK(r.epochs == 3);
  CHECK(r.schedule == Schedule::Cosine);
  CHECK(r.batch == 256);
  CHECK(r.lr == 0.05);
}

TEST_CASE("learning-rate schedules") {
  Recipe r;
  r.lr = 0.1;
  r.epochs = 4;
  CHECK(learning_rate(r, 3, 9, 10) == 0.1);
  r.schedule = Schedule::Cosine;
  CHECK(learning_rate(r, 0, 0, 10) == Approx(0.1));
  CHECK(learning_rate(r, 2, 0, 10) == Approx(0.05));  // halfway
  CHECK(learning_rate(r, 3, 9, 10) == Approx(0.1 * 0.5 * (1 + std::cos(3.14159265358979 * 39 / 40))));
  r.schedule = Schedule::Step;
  CHECK(learning_rate(r, 1, 5, 10) == Approx(0.1));
  CHECK(learning_rate(r, 2, 0, 10) == Approx(0.01));
  CHECK(learning_rate(r, 3, 0, 10) == Approx(0.001));
  CHECK_THROWS_WITH(parse_schedule("linear"), "schedule must be constant, cosine or step, not 'linear'");
}

TEST_CASE("a warmup ramps every step from lr * warmup_start, then the schedule runs over the other epochs") {
  Recipe r;
  r.lr = 0.1;
  r.epochs = 3;
  r.warmup_epochs = 1;
  r.warmup_start = 0.5;
  CHECK(learning_rate(r, 0, 0, 4) == Approx(0.05));
  CHECK(learning_rate(r, 0, 2, 4) == Approx(0.075));
  CHECK(learning_rate(r, 1, 0, 4) == Approx(0.1));
  r.schedule = Schedule::Cosine;
  CHECK(learning_rate(r, 1, 0, 4) == Approx(0.1));   // the cosine's first step
  CHECK(learning_rate(r, 2, 0, 4) == Approx(0.05));  // half of the 8 steps after the warmup
  r.schedule = Schedule::Step;
  CHECK(learning_rate(r, 2, 0, 4) == Approx(0.01));  // 50% of the 2 epochs after the warmup
}

TEST_CASE("a recipe that cannot run says why") {
  Recipe r;
  CHECK(recipe_problem(r).empty());
  r.warmup_epochs = r.epochs;
  CHECK(recipe_problem(r) == "the warmup (10 epochs) must be shorter than the run (10 epochs)");
  r.warmup_epochs = 0;
  r.nesterov = true;
  CHECK(recipe_problem(r) == "Nesterov momentum needs the sgd optimizer with a momentum above 0");
  r.momentum = 0.9;
  CHECK(recipe_problem(r).empty());
  r.optimizer = Optimizer::AdamW;
  r.nesterov = false;
  CHECK(recipe_problem(r).starts_with("momentum 0.9 is SGD's (set by --momentum or the file's train section); AdamW's"));
}
