/* Actions the global key table binds (app_actions.c). Screen actions stay static in their
 * screen's file, next to the screen's key table. */
#ifndef TUI_ACTIONS_H
#define TUI_ACTIONS_H
#include "tui/app.h"

void action_quit(app *a);
void action_help(app *a);
void action_save(app *a);
void action_undo(app *a);
void action_redo(app *a);
void action_repaint(app *a);
void action_next_screen(app *a);
void action_prev_screen(app *a);
void action_screen_1(app *a);
void action_screen_2(app *a);
void action_screen_3(app *a);
void action_screen_4(app *a);
void action_screen_5(app *a);
void action_screen_6(app *a);
void action_command(app *a);

#endif
