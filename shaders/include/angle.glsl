// pos * w mod 2pi, exactly: the host gives w / 2pi as a 64-bit fixed-point fraction of a turn
// (low, high words), so the product's fractional turns come from integer arithmetic even at
// pos = 10^6, where a float32 product pos * w would already be off by a tenth of a radian.
#ifndef ATTNSCOPE_ANGLE_GLSL
#define ATTNSCOPE_ANGLE_GLSL

float exactAngle(uint pos, uvec2 turnsFixed) {
  uint hiWord, loWord;
  umulExtended(pos, turnsFixed.x, hiWord, loWord);
  uint frac32 = hiWord + pos * turnsFixed.y;  // top 32 bits of fract(pos * w / 2pi), mod 2^32
  return float(int(frac32)) * (6.283185307179586 / 4294967296.0);  // in [-pi, pi)
}

#endif
