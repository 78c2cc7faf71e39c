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
