import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import { Membership } from '../db/entities/index.js';
import { ChestRole } from '../db/enums.js';
import { changeMemberRole, inviteMember, removeMember } from '../domain/membership/membership.service.js';
import type { Context } from './context.js';

@Resolver(() => Membership)
export class MembershipResolver {
  @Mutation(() => Membership, { description: 'Owners add an existing account, by email, with a role.' })
  inviteMember(
    @Arg('chestId', () => ID) chestId: string,
    @Arg('email', () => String) email: string,
    @Arg('role', () => ChestRole) role: ChestRole,
    @Ctx() ctx: Context,
  ): Promise<Membership> {
    return inviteMember(ctx.em, ctx.actor, chestId, { email, role });
  }

  @Mutation(() => Membership, { description: 'Owners change a role. A chest always keeps one owner (CONFLICT otherwise).' })
  changeMemberRole(
    @Arg('chestId', () => ID) chestId: string,
    @Arg('accountId', () => ID) accountId: string,
    @Arg('role', () => ChestRole) role: ChestRole,
    @Ctx() ctx: Context,
  ): Promise<Membership> {
    return changeMemberRole(ctx.em, ctx.actor, chestId, accountId, role);
  }

  @Mutation(() => Boolean, { description: 'Owners remove anyone; any member may remove themselves (leave).' })
  removeMember(@Arg('chestId', () => ID) chestId: string, @Arg('accountId', () => ID) accountId: string, @Ctx() ctx: Context): Promise<boolean> {
    return removeMember(ctx.em, ctx.actor, chestId, accountId);
  }
}
